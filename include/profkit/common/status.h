// Errors are values: Status for operations without a result, Result<T> for those with one.
// Messages carry their context outward-in, e.g.
//   "writing profiles/api/20261122T013813Z.pprof: open: No such file or directory".
// Exceptions are used only at the program boundary (config load, main).
#pragma once

#include <fmt/format.h>

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace profkit {

class [[nodiscard]] Status {
 public:
  Status() = default;

  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }
  template <typename... Args>
  static Status Errorf(fmt::format_string<Args...> format, Args&&... args) {
    return Status(fmt::format(format, std::forward<Args>(args)...));
  }
  // "<what>: <strerror(err)>"
  static Status FromErrno(std::string_view what, int err);

  bool ok() const { return !message_.has_value(); }
  // Empty for an ok status.
  const std::string& message() const;
  // Prefixes the message with "<context>: "; ok stays ok.
  Status WithContext(std::string_view context) const;

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status error) : value_(std::move(error)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(value_).ok() && "Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(value_); }

  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  Result WithContext(std::string_view context) && {
    if (ok()) return std::move(*this);
    return std::get<Status>(value_).WithContext(context);
  }

 private:
  std::variant<T, Status> value_;
};

}  // namespace profkit

#define PROFKIT_CONCAT_INNER(a, b) a##b
#define PROFKIT_CONCAT(a, b) PROFKIT_CONCAT_INNER(a, b)

#define PROFKIT_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::profkit::Status profkit_status_ = (expr); \
    if (!profkit_status_.ok()) return profkit_status_; \
  } while (0)

#define PROFKIT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

// PROFKIT_ASSIGN_OR_RETURN(auto x, ComputeX()); returns the error status from the caller.
#define PROFKIT_ASSIGN_OR_RETURN(lhs, expr) \
  PROFKIT_ASSIGN_OR_RETURN_IMPL(PROFKIT_CONCAT(profkit_result_, __LINE__), lhs, expr)
