#include "profkit/config/duration.h"

#include <gtest/gtest.h>

namespace profkit::config {
namespace {

using namespace std::chrono_literals;

std::chrono::nanoseconds Parse(std::string_view text) {
  Result<std::chrono::nanoseconds> r = ParseDuration(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? *r : std::chrono::nanoseconds(-1);
}

std::string Error(std::string_view text) {
  Result<std::chrono::nanoseconds> r = ParseDuration(text);
  EXPECT_FALSE(r.ok()) << text << " parsed as " << (r.ok() ? r->count() : 0) << "ns";
  return r.status().message();
}

TEST(ParseDurationTest, SingleUnits) {
  EXPECT_EQ(Parse("7ns"), 7ns);
  EXPECT_EQ(Parse("3us"), 3us);
  EXPECT_EQ(Parse("3\u00b5s"), 3us);
  EXPECT_EQ(Parse("3\u03bcs"), 3us);
  EXPECT_EQ(Parse("500ms"), 500ms);
  EXPECT_EQ(Parse("2s"), 2s);
  EXPECT_EQ(Parse("5m"), 5min);
  EXPECT_EQ(Parse("1h"), 1h);
  EXPECT_EQ(Parse("0s"), 0s);
}

TEST(ParseDurationTest, CompoundsAndFractions) {
  EXPECT_EQ(Parse("1m30s"), 90s);
  EXPECT_EQ(Parse("1h2m3s4ms"), 1h + 2min + 3s + 4ms);
  EXPECT_EQ(Parse("1.5s"), 1500ms);
  EXPECT_EQ(Parse(".25h"), 15min);
  EXPECT_EQ(Parse("0.000000001s"), 1ns);
  EXPECT_EQ(Parse("2562047h"), 2562047h);
}

TEST(ParseDurationTest, RejectsBadInput) {
  EXPECT_EQ(Error("10"),
            "invalid duration \"10\": missing unit (one of ns, us, ms, s, m, h), e.g. \"10s\"");
  EXPECT_EQ(Error("-1s"), "invalid duration \"-1s\": negative durations are not allowed");
  EXPECT_EQ(Error("1x"), "invalid duration \"1x\": unknown unit \"x\"");
  EXPECT_EQ(Error(""), "invalid duration \"\": empty");
  EXPECT_EQ(Error("s"), "invalid duration \"s\": expected a number at offset 0");
  EXPECT_EQ(Error("1s5"),
            "invalid duration \"1s5\": missing unit (one of ns, us, ms, s, m, h), e.g. \"10s\"");
  Error("+1s");
  Error(" 1s");
  Error("1s ");
  Error("1 s");
  Error(".s");
  Error("1S");
}

TEST(ParseDurationTest, RejectsOverflow) {
  const std::string message = "overflows the largest duration (about 292 years)";
  EXPECT_EQ(Error("2562048h"), "invalid duration \"2562048h\": " + message);
  EXPECT_EQ(Error("9223372036854775808ns"),
            "invalid duration \"9223372036854775808ns\": " + message);
  Error("99999999999999999999999999s");
  Error("2562047h48m");  // each term fits, the sum does not
  EXPECT_EQ(Parse("9223372036854775807ns").count(), INT64_MAX);
}

}  // namespace
}  // namespace profkit::config
