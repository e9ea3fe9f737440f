// Result types for recoverable errors, shared by every layer of gilstat.
//
// Status carries success or an error (a code and a message meant for people). Result<T> is a
// value or an error. Neither throws; reading the value of an error result is an invariant
// violation and aborts with file:line.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "gilstat/check.h"

namespace gilstat {

enum class ErrorCode {
  kInvalidArgument,     // the caller passed something that can never work
  kFailedPrecondition,  // misuse: the object is not in a state that allows the call
  kNotFound,
  kPermissionDenied,
  kResourceExhausted,  // a bounded table or queue is full
  kUnavailable,        // the environment lacks something (kernel feature, file, process)
  kInternal,
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)), ok_(false) {}  // NOLINT: implicit by design
  static Status Ok() { return {}; }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    GILSTAT_CHECK(!ok_);
    return error_;
  }
  ErrorCode code() const { return error().code; }
  const std::string& message() const { return error().message; }
  // "kind: message" or "ok".
  std::string ToString() const;

 private:
  Error error_{ErrorCode::kInternal, {}};
  bool ok_ = true;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}      // NOLINT: implicit by design
  Result(Status s) : v_(s.error()) {}        // NOLINT: only from an error status

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    GILSTAT_CHECK(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    GILSTAT_CHECK(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    GILSTAT_CHECK(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    GILSTAT_CHECK(!ok());
    return std::get<1>(v_);
  }
  Status status() const { return ok() ? Status::Ok() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

inline const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kFailedPrecondition:
      return "failed precondition";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kPermissionDenied:
      return "permission denied";
    case ErrorCode::kResourceExhausted:
      return "resource exhausted";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

inline std::string Status::ToString() const {
  if (ok_) return "ok";
  return std::string(ErrorCodeName(error_.code)) + ": " + error_.message;
}

}  // namespace gilstat
