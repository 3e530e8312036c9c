// Status and Result<T>: the error values every library in task-bastion returns.
//
// A Status is OK or carries a code and a message. The code tells the caller what to do next
// (tell the user, retry, give up); the message names the step and the value that failed, for
// example "agent 127.0.0.1:5051: LAUNCH_NESTED_CONTAINER_SESSION returned HTTP 503". Each layer
// that passes an error up may prefix context with Annotate(); it does not log it.
//
// Result<T> holds either a value or a non-OK Status, never both and never an OK Status.

#ifndef TASK_BASTION_COMMON_STATUS_H_
#define TASK_BASTION_COMMON_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tb {

enum class StatusCode {
  kOk,
  kInvalidArgument,     // bad input from the user or the peer: report it, do not retry
  kNotFound,            // no such task, container, user
  kPermissionDenied,    // authenticated but not allowed
  kUnauthenticated,     // credentials missing, wrong or expired
  kUnavailable,         // a cluster component is down or refused: retry or exit 255
  kDeadlineExceeded,    // a call timed out
  kFailedPrecondition,  // the request is valid but the state forbids it (task not running)
  kResourceExhausted,   // a limit was hit (record too large, too many attempts)
  kInternal,            // a bug or a broken invariant
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {
    assert(code != StatusCode::kOk);
  }

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status Annotate(std::string_view context) const {
    if (ok()) return *this;
    return Status(code_, std::string(context) + ": " + message_);
  }

  // "NotFound: no running task matches 'web'", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok().
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;  // OK exactly when value_ holds a value
};

}  // namespace tb

#endif  // TASK_BASTION_COMMON_STATUS_H_
