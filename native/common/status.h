// Status and Result<T>: how native code reports failure without exceptions.
//
// A failure carries a stable code (mapped 1:1 to PycageError codes in JS), the
// stage that failed, the errno if a syscall failed, the path or field involved
// and a sentence saying how to fix it. Nothing here depends on N-API.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace pycage {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,       // ERR_INVALID_ARGUMENT
  kRequirementsInvalid,   // ERR_REQUIREMENTS_INVALID
  kBundleNotReady,        // ERR_BUNDLE_NOT_READY
  kIsolationUnavailable,  // ERR_ISOLATION_UNAVAILABLE
  kClosed,                // ERR_CLOSED
  kOverloaded,            // ERR_OVERLOADED
  kInternal,              // ERR_INTERNAL: a host fault that fits no other code
};

const char* ErrorCodeName(ErrorCode code);

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(ErrorCode code, std::string message) {
    Status s;
    s.code_ = code;
    s.message_ = std::move(message);
    return s;
  }
  // A failed syscall: the message names the syscall, its subject and errno.
  static Status FromErrno(ErrorCode code, const std::string& what, int err) {
    return Error(code, what + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")")
        .WithErrno(err);
  }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  int sys_errno() const { return errno_; }

  Status& WithErrno(int err) {
    errno_ = err;
    return *this;
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  int errno_ = 0;
};

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : value_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace pycage
