#include "profkit/common/clock.h"

#include <fmt/format.h>
#include <time.h>

namespace profkit {
namespace {

int64_t ReadClock(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct tm UtcCalendar(int64_t unix_nanos) {
  time_t seconds = static_cast<time_t>(unix_nanos / 1'000'000'000);
  if (unix_nanos < 0 && unix_nanos % 1'000'000'000 != 0) --seconds;
  struct tm calendar {};
  gmtime_r(&seconds, &calendar);
  return calendar;
}

}  // namespace

int64_t WallTimeNanos() { return ReadClock(CLOCK_REALTIME); }
int64_t MonotonicNanos() { return ReadClock(CLOCK_MONOTONIC); }
int64_t BootTimeNanos() { return ReadClock(CLOCK_BOOTTIME); }

std::string FormatRfc3339Nano(int64_t unix_nanos) {
  const struct tm c = UtcCalendar(unix_nanos);
  int64_t fraction = unix_nanos % 1'000'000'000;
  if (fraction < 0) fraction += 1'000'000'000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", c.tm_year + 1900, c.tm_mon + 1,
                     c.tm_mday, c.tm_hour, c.tm_min, c.tm_sec, fraction);
}

std::string FormatFileTimestamp(int64_t unix_nanos) {
  const struct tm c = UtcCalendar(unix_nanos);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", c.tm_year + 1900, c.tm_mon + 1, c.tm_mday,
                     c.tm_hour, c.tm_min, c.tm_sec);
}

}  // namespace profkit
