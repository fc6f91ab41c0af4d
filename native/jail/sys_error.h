// One helper to turn a failed syscall into the contract's error line:
//   <stage>: <syscall>(<args>): <strerror> (errno N)
#pragma once

#include <cerrno>
#include <string>

#include "common/status.h"

namespace pycage::jail {

// Reads errno at the call, so call it right after the failing syscall.
inline Status SysError(const std::string& stage, const std::string& call) {
  int err = errno;
  return Status::FromErrno(ErrorCode::kIsolationUnavailable, stage + ": " + call, err);
}

inline Status PlainError(const std::string& stage, const std::string& what) {
  return Status::Error(ErrorCode::kIsolationUnavailable, stage + ": " + what);
}

}  // namespace pycage::jail
