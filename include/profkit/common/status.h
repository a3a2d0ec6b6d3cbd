// Errors are values: Status for operations without a result, Result<T> for those with one.
// Messages carry their context outward-in, e.g.
//   "writing profiles/api/20261122T013813Z.pprof: open: No such file or directory".
// Each error has a StatusCode, which callers act on (an HTTP status, a retry), and the errno it
// came from where there is one; WithContext keeps both. Messages are for people only.
// Exceptions are used only at the program boundary (config load, main).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace profkit {

// What kind of failure a Status is, so callers decide by kind (an HTTP status, a retry, a log
// level) and never by searching the message text.
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidInput,      // bad bytes, a bad request, a bad config value
  kTooLarge,          // a bound was exceeded: body, part, decompressed size, queue capacity
  kUnavailable,       // the peer is down, a timeout, try again later
  kNotFound,          // a file, process or key that is not there
  kPermissionDenied,  // the kernel or a peer refused the caller's rights
  kUnsupported,       // a format, version or feature profkit does not handle
  kInternal,          // a broken invariant or an unexpected system failure
};

// "invalid_input", "too_large", ... for logs and metrics.
std::string_view StatusCodeName(StatusCode code);
// The code an errno value means, e.g. ENOENT -> kNotFound, ENOSPC -> kTooLarge.
StatusCode StatusCodeForErrno(int err);

class [[nodiscard]] Status {
 public:
  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidInput(std::string message) {
    return Status(StatusCode::kInvalidInput, std::move(message));
  }
  template <typename... Args>
  static Status InvalidInputf(fmt::format_string<Args...> format, Args&&... args) {
    return InvalidInput(fmt::format(format, std::forward<Args>(args)...));
  }
  static Status TooLarge(std::string message) {
    return Status(StatusCode::kTooLarge, std::move(message));
  }
  template <typename... Args>
  static Status TooLargef(fmt::format_string<Args...> format, Args&&... args) {
    return TooLarge(fmt::format(format, std::forward<Args>(args)...));
  }
  static Status Unavailable(std::string message) {
    return Status(StatusCode::kUnavailable, std::move(message));
  }
  template <typename... Args>
  static Status Unavailablef(fmt::format_string<Args...> format, Args&&... args) {
    return Unavailable(fmt::format(format, std::forward<Args>(args)...));
  }
  static Status NotFound(std::string message) {
    return Status(StatusCode::kNotFound, std::move(message));
  }
  template <typename... Args>
  static Status NotFoundf(fmt::format_string<Args...> format, Args&&... args) {
    return NotFound(fmt::format(format, std::forward<Args>(args)...));
  }
  static Status PermissionDenied(std::string message) {
    return Status(StatusCode::kPermissionDenied, std::move(message));
  }
  template <typename... Args>
  static Status PermissionDeniedf(fmt::format_string<Args...> format, Args&&... args) {
    return PermissionDenied(fmt::format(format, std::forward<Args>(args)...));
  }
  static Status Unsupported(std::string message) {
    return Status(StatusCode::kUnsupported, std::move(message));
  }
  template <typename... Args>
  static Status Unsupportedf(fmt::format_string<Args...> format, Args&&... args) {
    return Unsupported(fmt::format(format, std::forward<Args>(args)...));
  }
  static Status Internal(std::string message) {
    return Status(StatusCode::kInternal, std::move(message));
  }
  template <typename... Args>
  static Status Internalf(fmt::format_string<Args...> format, Args&&... args) {
    return Internal(fmt::format(format, std::forward<Args>(args)...));
  }
  // "<what>: <strerror(err)>", coded by StatusCodeForErrno(err) and keeping `err`.
  static Status FromErrno(std::string_view what, int err);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // The errno the failure came from, 0 when it did not come from one.
  int error_number() const { return error_number_; }
  // Empty for an ok status.
  const std::string& message() const { return message_; }
  // Prefixes the message with "<context>: "; the code and errno stay; ok stays ok.
  Status WithContext(std::string_view context) const;
  // Appends " (<hint>)", the operator's fix; the code and errno stay; ok stays ok.
  Status WithHint(std::string_view hint) const;

 private:
  Status(StatusCode code, std::string message, int error_number = 0)
      : code_(code), error_number_(error_number), message_(std::move(message)) {}

  StatusCode code_ = StatusCode::kOk;
  int error_number_ = 0;
  std::string message_;
};

namespace internal {
// Logs "profkit: fatal: <what> [<code>]: <message>" to stderr and aborts, in every build type:
// using a value that is not there is a bug, and the status says which failure was ignored.
[[noreturn]] void DieOnErrorStatus(std::string_view what, const Status& status);
}  // namespace internal

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Status error) : value_(std::move(error)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(value_).ok()) {
      internal::DieOnErrorStatus("a Result built from an ok Status", std::get<Status>(value_));
    }
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(value_); }

  // Calling these on an error is a checked failure (DieOnErrorStatus), never undefined.
  T& value() & {
    CheckHasValue();
    return std::get<T>(value_);
  }
  const T& value() const& {
    CheckHasValue();
    return std::get<T>(value_);
  }
  T&& value() && {
    CheckHasValue();
    return std::get<T>(std::move(value_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  Result WithContext(std::string_view context) && {
    if (ok()) return std::move(*this);
    return std::get<Status>(value_).WithContext(context);
  }

 private:
  void CheckHasValue() const {
    if (!ok())
      internal::DieOnErrorStatus("Result::value() called on an error", std::get<Status>(value_));
  }

  std::variant<T, Status> value_;
};

}  // namespace profkit

#define PROFKIT_CONCAT_INNER(a, b) a##b
#define PROFKIT_CONCAT(a, b) PROFKIT_CONCAT_INNER(a, b)

#define PROFKIT_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::profkit::Status profkit_status_ = (expr);        \
    if (!profkit_status_.ok()) return profkit_status_; \
  } while (0)

#define PROFKIT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

// PROFKIT_ASSIGN_OR_RETURN(auto x, ComputeX()); returns the error status from the caller.
#define PROFKIT_ASSIGN_OR_RETURN(lhs, expr) \
  PROFKIT_ASSIGN_OR_RETURN_IMPL(PROFKIT_CONCAT(profkit_result_, __LINE__), lhs, expr)
