#include "common/status.h"

namespace pycage {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kInvalidArgument: return "ERR_INVALID_ARGUMENT";
    case ErrorCode::kRequirementsInvalid: return "ERR_REQUIREMENTS_INVALID";
    case ErrorCode::kBundleNotReady: return "ERR_BUNDLE_NOT_READY";
    case ErrorCode::kIsolationUnavailable: return "ERR_ISOLATION_UNAVAILABLE";
    case ErrorCode::kClosed: return "ERR_CLOSED";
    case ErrorCode::kOverloaded: return "ERR_OVERLOADED";
    case ErrorCode::kInternal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

}  // namespace pycage
