#include "profkit/kubernetes/pod_list.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "profkit/common/file_util.h"

namespace profkit::kubernetes {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

const NodeContext kNode{.node_name = "node-1", .cluster_name = "prod-eu"};

std::string Fixture() {
  Result<std::string> text =
      ReadFileBounded(std::string(PROFKIT_TEST_DATA_DIR) + "/kubelet/pods.json", 1 << 20);
  EXPECT_TRUE(text.ok()) << text.status().message();
  return text.ok() ? *text : "";
}

TEST(ParsePodListTest, RealShape) {
  Result<PodIndex> index = ParsePodList(Fixture(), kNode);
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ(index->pods, 4u);
  EXPECT_EQ(index->skipped_pods, 2u);
  // app, init, ephemeral, the Job's container, kube-proxy; not the waiting one nor lastState's.
  EXPECT_EQ(index->containers.size(), 5u);
  const auto& app = index->containers.at(std::string(64, 'a'));
  EXPECT_THAT(app->tags,
              UnorderedElementsAre(Pair("pod_name", "web-7d9f8b6c5d-x2k4p"),
                                   Pair("namespace", "shop"), Pair("pod_namespace", "shop"),
                                   Pair("pod_uid", "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"),
                                   Pair("node_name", "node-1"), Pair("cluster_name_k8s", "prod-eu"),
                                   Pair("deployment", "web"), Pair("container_name", "app"),
                                   Pair("image", "registry.example/web:1.4.2")));
  EXPECT_TRUE(std::is_sorted(app->tags.begin(), app->tags.end()));
  EXPECT_EQ(app->runtime, "containerd");
  EXPECT_EQ(app->service, "web");
  EXPECT_EQ(app->env, "prod");
  EXPECT_EQ(app->version, "1.4.2");
  EXPECT_THAT(index->containers.at(std::string(64, 'b'))->tags,
              Contains(Pair("container_name", "init-db")));
  EXPECT_THAT(index->containers.at(std::string(64, 'c'))->tags,
              Contains(Pair("container_name", "debugger")));
  EXPECT_FALSE(index->containers.contains(std::string(64, 'f')))
      << "a restarted container's old ID";

  const auto& backup = index->containers.at(std::string(64, 'd'));
  EXPECT_EQ(backup->runtime, "cri-o");
  EXPECT_EQ(backup->service, "nightly-backup");
  EXPECT_THAT(backup->tags, Contains(Pair("job", "backup-29012345")));
  EXPECT_THAT(backup->tags, Contains(Pair("cronjob", "backup")));

  const auto& proxy = index->containers.at(std::string(64, 'e'));
  EXPECT_EQ(proxy->runtime, "docker");
  EXPECT_EQ(proxy->service, "kube-proxy") << "static pod: the container's name";

  // Pod IPs: not the host-network pod's (the node's IP), not the finished pod's.
  EXPECT_EQ(index->pods_by_ip.size(), 3u);
  const auto& web = index->pods_by_ip.at("fd00::7");
  EXPECT_THAT(web->tags, Contains(Pair("pod_name", "web-7d9f8b6c5d-x2k4p")));
  EXPECT_THAT(web->tags, Not(Contains(Pair("container_name", "app"))));
  EXPECT_EQ(web->service, "web");
  EXPECT_FALSE(index->pods_by_ip.contains("10.0.0.5"));
  EXPECT_FALSE(index->pods_by_ip.contains("10.244.1.9"));
}

TEST(ParsePodListTest, NodeNameFromThePodWhenNotConfigured) {
  Result<PodIndex> index = ParsePodList(Fixture(), NodeContext{.cluster_name = "default"});
  ASSERT_TRUE(index.ok());
  EXPECT_THAT(index->containers.at(std::string(64, 'a'))->tags,
              Contains(Pair("node_name", "node-1")));
}

TEST(ParsePodListTest, MissingFieldsAndEmptyLists) {
  for (const char* text :
       {R"({"kind":"PodList","items":[]})", R"({"kind":"PodList","items":null})",
        R"({"items":[{"metadata":{"name":"p"}}]})",
        R"({"items":[{"metadata":{"name":"p"},"status":{"containerStatuses":"x"}}]})",
        R"({"items":[{"metadata":{"name":"p","labels":[1],"ownerReferences":{}},
                                         "status":{"containerStatuses":[{"containerID":7},{}]}}]})"}) {
    Result<PodIndex> index = ParsePodList(text, kNode);
    ASSERT_TRUE(index.ok()) << text << ": " << index.status().message();
    EXPECT_THAT(index->containers, IsEmpty()) << text;
  }
}

TEST(ParsePodListTest, GarbageIsAClearError) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not JSON"},
      {"<html>503</html>", "not JSON"},
      {R"({"items": [)", "not JSON"},
      {"[]", "not a JSON object"},
      {R"({"kind":"Status","status":"Failure"})", "expected PodList"},
      {R"({"kind":"PodList","items":{}})", "items is not an array"},
      {std::string(kMaxPodListBytes + 1, ' '), "MiB"},
  };
  for (const auto& [text, error] : cases) {
    Result<PodIndex> index = ParsePodList(text, kNode);
    ASSERT_FALSE(index.ok()) << text.substr(0, 40);
    EXPECT_THAT(index.status().message(), HasSubstr(error));
    EXPECT_THAT(index.status().message(), HasSubstr("kubelet /pods"));
  }
}

// 500 pods of 10 containers each, with the managedFields, env and volumes real pods carry.
std::string LargePodList() {
  std::string text = R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":[)";
  for (int pod = 0; pod < 500; ++pod) {
    if (pod > 0) text += ',';
    std::string statuses, containers;
    for (int c = 0; c < 10; ++c) {
      if (c > 0) {
        statuses += ',';
        containers += ',';
      }
      statuses += fmt::format(
          R"({{"name":"c{}","containerID":"containerd://{:064x}","image":"registry.example/app-{}:1.0","imageID":"sha256:{:064x}","ready":true,"restartCount":0,"state":{{"running":{{"startedAt":"2025-01-01T00:00:00Z"}}}}}})",
          c, pod * 10 + c, c, pod * 10 + c);
      containers += fmt::format(
          R"({{"name":"c{}","image":"registry.example/app-{}:1.0","env":[{{"name":"A","value":"{}"}},{{"name":"B","value":"x"}}],"volumeMounts":[{{"name":"v","mountPath":"/var/run/secrets"}}],"resources":{{"requests":{{"cpu":"10m"}}}}}})",
          c, c, std::string(200, 'v'));
    }
    text += fmt::format(
        R"({{"metadata":{{"name":"app-{0}-7d9f8b6c5d-abcde","namespace":"ns-{1}","uid":"{0:08x}-0000-0000-0000-000000000000","labels":{{"app.kubernetes.io/name":"app-{0}","pod-template-hash":"7d9f8b6c5d"}},"ownerReferences":[{{"kind":"ReplicaSet","name":"app-{0}-7d9f8b6c5d","controller":true}}],"managedFields":[{{"manager":"kubelet","fieldsV1":{{"f:status":{{"f:conditions":{{}}}}}}}}]}},"spec":{{"nodeName":"node-1","containers":[{2}],"volumes":[{{"name":"v","projected":{{}}}}]}},"status":{{"phase":"Running","podIP":"10.1.{3}.{4}","containerStatuses":[{5}]}}}})",
        pod, pod % 20, containers, pod / 250, pod % 250, statuses);
  }
  return text + "]}";
}

TEST(ParsePodListTest, FiveHundredPodsFiveThousandContainers) {
  const std::string text = LargePodList();
  Result<PodIndex> index = ParsePodList(text, kNode);
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ(index->pods, 500u);
  EXPECT_EQ(index->containers.size(), 5000u);
  EXPECT_EQ(index->pods_by_ip.size(), 500u);
  EXPECT_THAT(index->containers.at(fmt::format("{:064x}", 4999))->tags,
              Contains(Pair("deployment", "app-499")));
}

}  // namespace
}  // namespace profkit::kubernetes
