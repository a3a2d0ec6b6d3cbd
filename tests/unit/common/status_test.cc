#include "profkit/common/status.h"

#include <gtest/gtest.h>

namespace profkit {
namespace {

Result<int> ParsePositive(int value) {
  if (value <= 0) return Status::Errorf("{} is not positive", value);
  return value;
}

Result<int> Doubled(int value) {
  PROFKIT_ASSIGN_OR_RETURN(int parsed, ParsePositive(value));
  return parsed * 2;
}

TEST(StatusTest, OkHasEmptyMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().message(), "");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
}

TEST(StatusTest, ContextIsPrefixed) {
  const Status s = Status::Error("unexpected end of stream").WithContext("gzip").WithContext("part 'auto.pprof'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "part 'auto.pprof': gzip: unexpected end of stream");
}

TEST(StatusTest, FromErrnoNamesTheError) {
  EXPECT_EQ(Status::FromErrno("open x", ENOENT).message(), "open x: No such file or directory");
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Doubled(4), 8);
  const Result<int> bad = Doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "-1 is not positive");
}

}  // namespace
}  // namespace profkit
