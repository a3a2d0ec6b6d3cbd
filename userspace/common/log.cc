#include "profkit/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "profkit/common/clock.h"

namespace profkit {

void InitLogging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("profkit");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

int64_t LogLimiter::Allow() {
  const int64_t now = MonotonicNanos();
  int64_t next = next_allowed_ns_.load(std::memory_order_relaxed);
  if (now < next || !next_allowed_ns_.compare_exchange_strong(next, now + interval_ns_,
                                                              std::memory_order_relaxed)) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return -1;
  }
  return suppressed_.exchange(0, std::memory_order_relaxed);
}

}  // namespace profkit
