#include "profkit/config/go_target.h"

#include <gtest/gtest.h>

namespace profkit::config {
namespace {

GoTarget Valid() {
  GoTarget target;
  target.url = "http://localhost:6060";
  target.service = "go-demo";
  return target;
}

TEST(GoTargetTest, DefaultsAreValid) {
  const GoTarget target = Valid();
  EXPECT_TRUE(ValidateGoTarget(target).ok());
  EXPECT_EQ(target.enabled_types.size(), 3u);
}

TEST(GoTargetTest, RejectsBadFieldsNamingThem) {
  GoTarget target = Valid();
  target.interval = std::chrono::seconds(5);
  EXPECT_EQ(ValidateGoTarget(target).message(), "interval: 5s is below the minimum 10s");

  target = Valid();
  target.url = "ftp://x";
  EXPECT_NE(ValidateGoTarget(target).message().find("scheme"), std::string::npos);
  target.url = "localhost:6060";
  EXPECT_FALSE(ValidateGoTarget(target).ok());
  target.url = "http:///debug";
  EXPECT_FALSE(ValidateGoTarget(target).ok());

  target = Valid();
  target.enabled_types = {};
  EXPECT_NE(ValidateGoTarget(target).message().find("enabled_types"), std::string::npos);
  target.enabled_types = {GoProfileType::kCpu, GoProfileType::kCpu};
  EXPECT_NE(ValidateGoTarget(target).message().find("twice"), std::string::npos);

  target = Valid();
  target.tls_cert = "/etc/hostname";
  EXPECT_NE(ValidateGoTarget(target).message().find("tls_key"), std::string::npos);
  target.tls_key = "/nonexistent/key.pem";
  EXPECT_NE(ValidateGoTarget(target).message().find("/nonexistent/key.pem"), std::string::npos);
  target = Valid();
  target.tls_ca = "/";
  EXPECT_NE(ValidateGoTarget(target).message().find("not a regular file"), std::string::npos);
}

TEST(GoTargetTest, BaseUrlKeepsOnlySchemeAndAuthority) {
  GoTarget target = Valid();
  target.url = "HTTP://user:pw@10.0.0.1:6060/debug/pprof?x=1";
  EXPECT_EQ(*GoTargetBaseUrl(target), "http://10.0.0.1:6060");
  target.tls_open = true;
  EXPECT_EQ(*GoTargetBaseUrl(target), "https://10.0.0.1:6060");
}

TEST(GoTargetTest, ProfileTypeNamesRoundTrip) {
  for (const char* name : {"cpu", "heap", "goroutine", "mutex", "block", "allocs"}) {
    auto type = ParseGoProfileType(name);
    ASSERT_TRUE(type.ok());
    EXPECT_EQ(GoProfileTypeName(*type), name);
  }
  EXPECT_FALSE(ParseGoProfileType("threadcreate").ok());
}

}  // namespace
}  // namespace profkit::config
