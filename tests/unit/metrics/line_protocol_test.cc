#include "profkit/metrics/line_protocol.h"

#include <gtest/gtest.h>

#include <limits>

namespace profkit::metrics {
namespace {

TEST(LineProtocol, FormatsTagsSortedIntegersAndFloats) {
  const Point point{"profiling_metrics",
                    {{"service", "api"}, {"language", "python"}, {"host", "h1"}},
                    {{"prof_python_cpu_cores", 0.125}, {"prof_python_wall_time", int64_t{42}}},
                    1700000000123456789};
  EXPECT_EQ(FormatLine(point),
            "profiling_metrics,host=h1,language=python,service=api "
            "prof_python_cpu_cores=0.125,prof_python_wall_time=42i 1700000000123456789\n");
}

TEST(LineProtocol, EscapesSpecialCharacters) {
  const Point point{"my measure,x",
                    {{"tag key=1", "a value,with=all three"}, {"team", "a\\"}, {"multi", "l1\nl2"}},
                    {{"field,key=x y", int64_t{-3}}},
                    5};
  EXPECT_EQ(FormatLine(point),
            "my\\ measure\\,x,multi=l1\\ l2,tag\\ key\\=1=a\\ value\\,with\\=all\\ three,team=a "
            "field\\,key\\=x\\ y=-3i 5\n");
}

// The scanner pairs a backslash with the next byte: "a\\,b" must not become a\ then a free ','
// (tests/fuzz/line_protocol). An odd run of backslashes before an escaped separator loses one;
// an even run, or one before an ordinary byte, is kept.
TEST(LineProtocol, BackslashesNeverFreeASeparator) {
  const Point point{"m",
                    {{"k", "a\\,b"}, {"l", "a\\\\ b"}, {"p", "c:\\dir"}, {"q", "x\\\\\\=y"}},
                    {{"f\\=g", int64_t{1}}},
                    1};
  EXPECT_EQ(FormatLine(point), "m,k=a\\,b,l=a\\\\\\ b,p=c:\\dir,q=x\\\\\\=y f\\=g=1i 1\n");
}

// A key or value of backslashes only escapes to nothing: the tag or field is left out rather
// than written with an empty key ("m,=v" is not a valid line).
TEST(LineProtocol, LeavesOutKeysThatEscapeToNothing) {
  const Point point{
      "m", {{"\\", "v"}, {"t", "\\\\"}, {"s", "x"}}, {{"\\", int64_t{1}}, {"ok", int64_t{2}}}, 1};
  EXPECT_EQ(FormatLine(point), "m,s=x ok=2i 1\n");
}

TEST(LineProtocol, LeavesOutEmptyTagsAndNonFiniteFields) {
  const Point point{"m",
                    {{"env", ""}, {"", "x"}, {"service", "s"}},
                    {{"nan", std::numeric_limits<double>::quiet_NaN()},
                     {"inf", std::numeric_limits<double>::infinity()},
                     {"ok", 1.0}},
                    1};
  EXPECT_EQ(FormatLine(point), "m,service=s ok=1 1\n");
}

TEST(LineProtocol, NoFieldsNoLine) {
  EXPECT_EQ(FormatLine(Point{"m", {{"a", "b"}}, {}, 1}), "");
  EXPECT_EQ(FormatLine(Point{"m", {}, {{"x", std::numeric_limits<double>::infinity()}}, 1}), "");
}

}  // namespace
}  // namespace profkit::metrics
