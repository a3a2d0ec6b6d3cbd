#include "profkit/common/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace profkit {
namespace {

Result<int> ParsePositive(int value) {
  if (value <= 0) return Status::InvalidInputf("{} is not positive", value);
  return value;
}

Result<int> Doubled(int value) {
  PROFKIT_ASSIGN_OR_RETURN(int parsed, ParsePositive(value));
  return parsed * 2;
}

TEST(StatusTest, OkHasEmptyMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().message(), "");
  EXPECT_EQ(Status::Ok().code(), StatusCode::kOk);
  EXPECT_EQ(Status::Ok().error_number(), 0);
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
  EXPECT_TRUE(Status::Ok().WithHint("ignored").ok());
}

TEST(StatusTest, ContextIsPrefixed) {
  const Status s = Status::InvalidInput("unexpected end of stream")
                       .WithContext("gzip")
                       .WithContext("part 'auto.pprof'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "part 'auto.pprof': gzip: unexpected end of stream");
}

TEST(StatusTest, NamedConstructorsSetTheirCode) {
  const std::pair<Status, StatusCode> cases[] = {
      {Status::InvalidInput("x"), StatusCode::kInvalidInput},
      {Status::TooLargef("{} bytes", 5), StatusCode::kTooLarge},
      {Status::Unavailable("x"), StatusCode::kUnavailable},
      {Status::NotFoundf("{}", "x"), StatusCode::kNotFound},
      {Status::PermissionDenied("x"), StatusCode::kPermissionDenied},
      {Status::Unsupportedf("format={}", "trie"), StatusCode::kUnsupported},
      {Status::Internal("x"), StatusCode::kInternal},
  };
  for (const auto& [status, code] : cases) {
    EXPECT_FALSE(status.ok()) << StatusCodeName(code);
    EXPECT_EQ(status.code(), code) << StatusCodeName(code);
    EXPECT_EQ(status.error_number(), 0) << StatusCodeName(code);
  }
  EXPECT_EQ(Status::TooLargef("{} bytes", 5).message(), "5 bytes");
}

TEST(StatusTest, CodesHavePrintableNames) {
  EXPECT_EQ(StatusCodeName(StatusCode::kOk), "ok");
  EXPECT_EQ(StatusCodeName(StatusCode::kInvalidInput), "invalid_input");
  EXPECT_EQ(StatusCodeName(StatusCode::kTooLarge), "too_large");
  EXPECT_EQ(StatusCodeName(StatusCode::kUnavailable), "unavailable");
  EXPECT_EQ(StatusCodeName(StatusCode::kNotFound), "not_found");
  EXPECT_EQ(StatusCodeName(StatusCode::kPermissionDenied), "permission_denied");
  EXPECT_EQ(StatusCodeName(StatusCode::kUnsupported), "unsupported");
  EXPECT_EQ(StatusCodeName(StatusCode::kInternal), "internal");
}

TEST(StatusTest, FromErrnoNamesTheErrorAndKeepsIt) {
  const Status s = Status::FromErrno("open x", ENOENT);
  EXPECT_EQ(s.message(), "open x: No such file or directory");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.error_number(), ENOENT);
}

TEST(StatusTest, ErrnoMapsToCodes) {
  const std::pair<int, StatusCode> cases[] = {
      {ENOENT, StatusCode::kNotFound},
      {ESRCH, StatusCode::kNotFound},
      {EACCES, StatusCode::kPermissionDenied},
      {EPERM, StatusCode::kPermissionDenied},
      {EAGAIN, StatusCode::kUnavailable},
      {ETIMEDOUT, StatusCode::kUnavailable},
      {ECONNREFUSED, StatusCode::kUnavailable},
      {ENOSPC, StatusCode::kTooLarge},
      {EFBIG, StatusCode::kTooLarge},
      {E2BIG, StatusCode::kTooLarge},
      {EDQUOT, StatusCode::kTooLarge},
      {EINVAL, StatusCode::kInvalidInput},
      {EOPNOTSUPP, StatusCode::kUnsupported},
      {ENOSYS, StatusCode::kUnsupported},
      {EIO, StatusCode::kInternal},
      {0, StatusCode::kInternal},
  };
  for (const auto& [err, code] : cases) {
    EXPECT_EQ(StatusCodeForErrno(err), code) << err;
    const Status s = Status::FromErrno("op", err);
    EXPECT_FALSE(s.ok()) << err;
    EXPECT_EQ(s.code(), code) << err;
    EXPECT_EQ(s.error_number(), err);
  }
}

TEST(StatusTest, ContextAndHintKeepCodeAndErrno) {
  const Status s =
      Status::FromErrno("write", ENOSPC).WithContext("disk queue").WithHint("free space");
  EXPECT_EQ(s.message(), "disk queue: write: No space left on device (free space)");
  EXPECT_EQ(s.code(), StatusCode::kTooLarge);
  EXPECT_EQ(s.error_number(), ENOSPC);
  const Status t = Status::Unsupported("format=trie").WithContext("ingest");
  EXPECT_EQ(t.code(), StatusCode::kUnsupported);
  EXPECT_EQ(t.error_number(), 0);
}

TEST(ResultTest, AssignOrReturnPropagates) {
  EXPECT_EQ(*Doubled(4), 8);
  const Result<int> bad = Doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "-1 is not positive");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidInput);
}

TEST(ResultTest, ContextKeepsTheCode) {
  const Result<int> bad = Result<int>(Status::FromErrno("open", EACCES)).WithContext("config");
  EXPECT_EQ(bad.status().message(), "config: open: Permission denied");
  EXPECT_EQ(bad.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(bad.status().error_number(), EACCES);
}

// A value that is not there is a checked failure naming the ignored error, in every build type.
TEST(ResultDeathTest, ValueOfAnErrorAbortsWithTheMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Result<std::string> bad = Status::NotFound("open conf.toml: No such file or directory");
  EXPECT_DEATH((void)bad.value(),
               "Result::value\\(\\) called on an error \\[not_found\\]: open conf.toml: No such "
               "file or directory");
  Result<std::string> moved = Status::TooLarge("too big");
  EXPECT_DEATH((void)std::move(moved).value(), "\\[too_large\\]: too big");
  EXPECT_DEATH((void)bad->size(), "called on an error");
}

TEST(ResultDeathTest, BuildingFromAnOkStatusAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(Result<int>{Status::Ok()}, "a Result built from an ok Status");
}

}  // namespace
}  // namespace profkit
