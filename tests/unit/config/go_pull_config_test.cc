// [[inputs.profile.go]], election and [agent] election_namespace.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "profkit/config/config.h"

namespace profkit::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

Result<Config> Parse(std::string_view text) { return ParseConfig(text, "conf.toml"); }

TEST(GoPullConfigTest, DefaultsWithoutGoTargets) {
  Result<Config> c = Parse("[[inputs.profile]]\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->profile.election);
  EXPECT_THAT(c->profile.go_targets, IsEmpty());
  EXPECT_EQ(c->agent.election_namespace, "default");
}

TEST(GoPullConfigTest, TheIssueExample) {
  Result<Config> c = Parse(R"(
[agent]
election_namespace = "prod"
[[inputs.profile]]
election = false
[[inputs.profile.go]]
  url = "http://localhost:6060"
  interval = "10s"
  service = "go-demo"
  env = "dev"
  version = "0.0.0"
  enabled_types = ["cpu", "heap", "goroutine", "mutex", "block"]
  [inputs.profile.go.tags]
    tag1 = "val1"
[[inputs.profile.go]]
  url = "https://10.0.0.2:6060"
  interval = "1m30s"
  tls_open = true
  insecure_skip_verify = true
)");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->warnings, IsEmpty());
  EXPECT_EQ(c->agent.election_namespace, "prod");
  EXPECT_FALSE(c->profile.election);
  ASSERT_EQ(c->profile.go_targets.size(), 2u);
  const GoTarget& demo = c->profile.go_targets[0];
  EXPECT_EQ(demo.url, "http://localhost:6060");
  EXPECT_EQ(demo.interval, 10s);
  EXPECT_EQ(demo.service, "go-demo");
  EXPECT_EQ(demo.env, "dev");
  EXPECT_EQ(demo.version, "0.0.0");
  EXPECT_THAT(demo.enabled_types,
              ElementsAre(GoProfileType::kCpu, GoProfileType::kHeap, GoProfileType::kGoroutine,
                          GoProfileType::kMutex, GoProfileType::kBlock));
  EXPECT_THAT(demo.tags, ElementsAre(Pair("tag1", "val1")));
  const GoTarget& tls = c->profile.go_targets[1];
  EXPECT_EQ(tls.interval, 90s);
  EXPECT_TRUE(tls.tls_open);
  EXPECT_TRUE(tls.insecure_skip_verify);
  // profkit's default (DataKit pulls nothing without enabled_types).
  EXPECT_THAT(tls.enabled_types,
              ElementsAre(GoProfileType::kCpu, GoProfileType::kHeap, GoProfileType::kGoroutine));
}

TEST(GoPullConfigTest, ErrorsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"interval = \"5s\"", "conf.toml: inputs.profile[0].go[0].interval: must be between 10s"},
      {"interval = 10", "conf.toml: inputs.profile[0].go[0].interval: expected a duration"},
      {"enabled_types = [\"allocs\", \"threadcreate\"]",
       "conf.toml: inputs.profile[0].go[0].enabled_types: invalid profile type \"threadcreate\""},
      {"enabled_types = []", "conf.toml: inputs.profile[0].go[0]: enabled_types: empty"},
      {"enabled_types = [\"cpu\", \"cpu\"]",
       "conf.toml: inputs.profile[0].go[0]: enabled_types: a type is listed twice"},
      {"tls_key = \"/etc/hostname\"",
       "conf.toml: inputs.profile[0].go[0]: tls_cert and tls_key: set both or neither"},
      {"tls_ca = \"/nonexistent/ca.pem\"",
       "conf.toml: inputs.profile[0].go[0]: tls_ca: /nonexistent/ca.pem"},
      {"service = 3", "conf.toml: inputs.profile[0].go[0].service: expected a string"},
  };
  for (const auto& [setting, message] : cases) {
    const std::string text = fmt::format(
        "[[inputs.profile]]\n[[inputs.profile.go]]\nurl = \"http://127.0.0.1:6060\"\n{}\n",
        setting);
    Result<Config> c = Parse(text);
    ASSERT_FALSE(c.ok()) << setting;
    EXPECT_THAT(c.status().message(), ::testing::StartsWith(message)) << setting;
  }
}

TEST(GoPullConfigTest, UrlIsRequiredAndChecked) {
  Result<Config> c = Parse("[[inputs.profile]]\n[[inputs.profile.go]]\nservice = \"x\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "conf.toml: inputs.profile[0].go[0].url: required");
  c = Parse("[[inputs.profile]]\n[[inputs.profile.go]]\nurl = \"ftp://x\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), ::testing::HasSubstr("scheme must be http or https"));
}

TEST(GoPullConfigTest, UnknownGoKeysAreWarnings) {
  Result<Config> c = Parse("[[inputs.profile]]\n[[inputs.profile.go]]\nurl = "
                           "\"http://127.0.0.1:6060\"\nintervl = \"10s\"\n");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_THAT(c->warnings,
              ElementsAre("conf.toml: unknown key 'inputs.profile[0].go[0].intervl' (ignored)"));
}

TEST(GoPullConfigTest, ElectionNamespaceIsChecked) {
  Result<Config> c = Parse("[agent]\nelection_namespace = \"\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "conf.toml: agent.election_namespace: must not be empty");
  EXPECT_FALSE(Parse("[agent]\nelection_namespace = \"a b\"\n").ok());
}

}  // namespace
}  // namespace profkit::config
