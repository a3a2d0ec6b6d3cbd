#include "profkit/common/quoted.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string_view>

namespace profkit {
namespace {

TEST(QuotedTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(fmt::format("{}", Quoted("a \"b\" \\ c\n\r\t\x01\x7f")),
            "\"a \\\"b\\\" \\\\ c\\n\\r\\t\\x01\\x7f\"");
}

// Bytes from outside may be any bytes. fmt 9.1's "{:?}" asserts on invalid UTF-8 ("negative
// value"), which aborted the agent on a Pyroscope body (tests/fuzz/pyroscope_folded); Quoted
// never hands them to fmt's escaping and writes every non-ASCII byte as \xNN.
TEST(QuotedTest, InvalidUtf8BecomesHexEscapes) {
  const std::string_view bytes("rk;\xa4om;w\xf6\xf6", 10);
  EXPECT_EQ(fmt::format("the count {} is bad", Quoted(bytes)),
            "the count \"rk;\\xa4om;w\\xf6\\xf6\" is bad");
  EXPECT_EQ(fmt::format("{}", Quoted(std::string_view("\0\xff", 2))), "\"\\x00\\xff\"");
}

}  // namespace
}  // namespace profkit
