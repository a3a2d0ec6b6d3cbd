// [[inputs.profile.pyroscope]] through the public config parser.
#include <gtest/gtest.h>

#include "profkit/config/config.h"

namespace profkit::config {
namespace {

TEST(PyroscopeConfigTest, SeveralListeners) {
  const Result<Config> config = ParseConfig(R"(
[[inputs.profile]]
  [[inputs.profile.pyroscope]]
    url = "0.0.0.0:4040"
    service = "pyroscope-demo"
    env = "dev"
    version = "0.0.0"
    [inputs.profile.pyroscope.tags]
      tag1 = "val1"
  [[inputs.profile.pyroscope]]
    url = "127.0.0.1:4041"
)",
                                            "t.toml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->warnings.empty());
  const std::vector<PyroscopeInputConfig>& inputs = config->profile.pyroscope;
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].host, "0.0.0.0");
  EXPECT_EQ(inputs[0].port, 4040);
  EXPECT_EQ(inputs[0].service, "pyroscope-demo");
  EXPECT_EQ(inputs[0].env, "dev");
  EXPECT_EQ(inputs[0].version, "0.0.0");
  EXPECT_EQ(inputs[0].tags, (std::vector<std::pair<std::string, std::string>>{{"tag1", "val1"}}));
  EXPECT_EQ(inputs[1].port, 4041);
  EXPECT_TRUE(inputs[1].service.empty());
}

TEST(PyroscopeConfigTest, NoneByDefault) {
  EXPECT_TRUE(ParseConfig("[[inputs.profile]]\n", "t.toml")->profile.pyroscope.empty());
}

TEST(PyroscopeConfigTest, ErrorsNameTheKey) {
  const auto error = [](const std::string& body) {
    const Result<Config> config = ParseConfig("[[inputs.profile]]\n" + body, "t.toml");
    EXPECT_FALSE(config.ok());
    return config.ok() ? std::string() : config.status().message();
  };
  EXPECT_NE(error("[[inputs.profile.pyroscope]]\nservice = \"x\"\n")
                .find("inputs.profile[0].pyroscope[0].url: required"),
            std::string::npos);
  EXPECT_NE(error("[[inputs.profile.pyroscope]]\nurl = \"nope\"\n").find("pyroscope[0].url"),
            std::string::npos);
  EXPECT_NE(error("[[inputs.profile.pyroscope]]\nurl = \":4040\"\n"
                  "[[inputs.profile.pyroscope]]\nurl = \"0.0.0.0:4040\"\n")
                .find("already used"),
            std::string::npos);
  EXPECT_NE(
      error("[[inputs.profile.pyroscope]]\nurl = \":1\"\nenv = \"a,b\"\n").find("pyroscope[0].env"),
      std::string::npos);
}

}  // namespace
}  // namespace profkit::config
