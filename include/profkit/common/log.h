// Logging goes through spdlog's default logger (stderr). Hot paths use LogLimiter so a flood of
// identical failures costs one line per interval plus a count of what was suppressed.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace profkit {

// Sets the default logger to stderr with profkit's pattern. level: trace|debug|info|warn|error.
void InitLogging(std::string_view level);

// Allows one event per `interval_ns`; Allow() returns how many were suppressed since the last
// allowed one (>= 0) when the caller may log, or -1 when it must stay quiet.
class LogLimiter {
 public:
  explicit LogLimiter(int64_t interval_ns) : interval_ns_(interval_ns) {}
  int64_t Allow();

 private:
  const int64_t interval_ns_;
  std::atomic<int64_t> next_allowed_ns_{0};
  std::atomic<int64_t> suppressed_{0};
};

}  // namespace profkit
