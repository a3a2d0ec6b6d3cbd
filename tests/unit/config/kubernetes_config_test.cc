#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "profkit/config/config.h"

namespace profkit::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Sets the variables for one test and restores what was there.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, std::string>> values) {
    for (const char* name : kNames) {
      const char* old = getenv(name);
      saved_.emplace_back(name, old == nullptr ? std::nullopt : std::optional<std::string>(old));
      unsetenv(name);
    }
    for (const auto& [name, value] : values) setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  static constexpr const char* kNames[] = {
      "KUBERNETES_SERVICE_HOST", "ENV_K8S_NODE_IP", "ENV_K8S_NODE_NAME",
      "ENV_CLUSTER_NAME_K8S",    "HOST_PROC",       "ENV_DATAWAY"};
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

Config Parse(std::string_view text) {
  Result<Config> config = ParseConfig(text, "conf.toml");
  EXPECT_TRUE(config.ok()) << config.status().message();
  return config.ok() ? *config : Config{};
}

TEST(KubernetesConfigTest, DefaultsOutsideAPod) {
  ScopedEnv env({});
  const Config config = Parse("");
  EXPECT_FALSE(config.kubernetes.enabled);
  EXPECT_EQ(config.kubernetes.kubelet_url, "https://127.0.0.1:10250");
  EXPECT_EQ(config.kubernetes.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(config.kubernetes.ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  EXPECT_FALSE(config.kubernetes.insecure_skip_verify);
  EXPECT_EQ(config.kubernetes.node_name, "");
  EXPECT_EQ(config.kubernetes.cluster_name, "default");
  EXPECT_EQ(config.kubernetes.refresh_interval, 30s);
  EXPECT_EQ(config.agent.host_proc, "/proc");
  EXPECT_EQ(config.dataway.url, "");
}

TEST(KubernetesConfigTest, DefaultsFromTheDaemonSetEnvironment) {
  ScopedEnv env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                 {"ENV_K8S_NODE_IP", "10.0.0.5"},
                 {"ENV_K8S_NODE_NAME", "node-1"},
                 {"ENV_CLUSTER_NAME_K8S", "prod-eu"},
                 {"HOST_PROC", "/rootfs/proc/"},
                 {"ENV_DATAWAY", "https://openway.example?token=t"}});
  const Config config = Parse("");
  EXPECT_TRUE(config.kubernetes.enabled);
  EXPECT_EQ(config.kubernetes.kubelet_url, "https://10.0.0.5:10250");
  EXPECT_EQ(config.kubernetes.node_name, "node-1");
  EXPECT_EQ(config.kubernetes.cluster_name, "prod-eu");
  EXPECT_EQ(config.agent.host_proc, "/rootfs/proc");
  EXPECT_EQ(config.dataway.url, "https://openway.example?token=t");
}

TEST(KubernetesConfigTest, TheSampleFileKeepsTheEnvironmentDefaults) {
  ScopedEnv env({{"ENV_K8S_NODE_NAME", "node-1"}, {"ENV_CLUSTER_NAME_K8S", "prod-eu"}});
  Result<Config> config = LoadConfigFile(std::string(PROFKIT_SOURCE_DIR) + "/conf/profkit.toml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->kubernetes.node_name, "node-1");
  EXPECT_EQ(config->kubernetes.cluster_name, "prod-eu");
  EXPECT_EQ(config->kubernetes.kubelet_url, "https://127.0.0.1:10250");
  EXPECT_FALSE(config->kubernetes.enabled);
  EXPECT_TRUE(config->warnings.empty());
}

TEST(KubernetesConfigTest, KeysWinOverTheEnvironment) {
  ScopedEnv env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                 {"ENV_K8S_NODE_IP", "fd00::5"},
                 {"HOST_PROC", "/rootfs/proc"},
                 {"ENV_DATAWAY", "https://openway.example?token=t"}});
  EXPECT_EQ(Parse("").kubernetes.kubelet_url, "https://[fd00::5]:10250");
  const Config config = Parse(R"(
[agent]
host_proc = "/host/proc"
[dataway]
url = "http://127.0.0.1:9/v1"
[kubernetes]
enabled = false
kubelet_url = "https://127.0.0.1:11250"
token_file = "/t"
ca_file = "/c"
insecure_skip_verify = true
node_name = "n"
cluster_name = "c"
refresh_interval = "5s"
)");
  EXPECT_FALSE(config.kubernetes.enabled);
  EXPECT_EQ(config.kubernetes.kubelet_url, "https://127.0.0.1:11250");
  EXPECT_EQ(config.kubernetes.token_file, "/t");
  EXPECT_EQ(config.kubernetes.ca_file, "/c");
  EXPECT_TRUE(config.kubernetes.insecure_skip_verify);
  EXPECT_EQ(config.kubernetes.node_name, "n");
  EXPECT_EQ(config.kubernetes.cluster_name, "c");
  EXPECT_EQ(config.kubernetes.refresh_interval, 5s);
  EXPECT_EQ(config.agent.host_proc, "/host/proc");
  EXPECT_EQ(config.dataway.url, "http://127.0.0.1:9/v1");
  EXPECT_TRUE(Parse("[kubernetes]\nenabled = true").kubernetes.enabled);
  EXPECT_TRUE(Parse("[kubernetes]\nenabled = \"auto\"").kubernetes.enabled);
}

TEST(KubernetesConfigTest, ErrorsNameTheKey) {
  ScopedEnv env({});
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"[kubernetes]\nenabled = \"yes\"", "kubernetes.enabled"},
           {"[kubernetes]\nenabled = 1", "kubernetes.enabled"},
           {"[kubernetes]\nkubelet_url = \"ftp://x\"", "kubernetes.kubelet_url"},
           {"[kubernetes]\nrefresh_interval = \"10ms\"", "kubernetes.refresh_interval"},
           {"[agent]\nhost_proc = \"proc\"", "agent.host_proc"}}) {
    Result<Config> config = ParseConfig(text, "conf.toml");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_THAT(config.status().message(), HasSubstr(key));
  }
}

}  // namespace
}  // namespace profkit::config
