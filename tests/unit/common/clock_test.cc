#include "profkit/common/clock.h"

#include <gtest/gtest.h>

namespace profkit {
namespace {

TEST(ClockTest, Rfc3339NanoKeepsAllDigits) {
  EXPECT_EQ(FormatRfc3339Nano(0), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(FormatRfc3339Nano(1'795'000'000'123'456'789), "2026-11-18T11:06:40.123456789Z");
}

TEST(ClockTest, FileTimestampIsSortableAndSafe) {
  EXPECT_EQ(FormatFileTimestamp(1'795'000'000'999'999'999), "20261118T110640Z");
}

TEST(ClockTest, ClocksAdvance) {
  const int64_t a = MonotonicNanos();
  const int64_t b = MonotonicNanos();
  EXPECT_LE(a, b);
  EXPECT_GT(WallTimeNanos(), 1'700'000'000'000'000'000);
}

}  // namespace
}  // namespace profkit
