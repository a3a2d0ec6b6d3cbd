#include "profkit/pipeline/service_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace profkit::pipeline {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

const std::string kId = std::string(64, 'a');

ProcessTable::Process ProcessIn(std::optional<process::ContainerIdentity> container,
                                process::ServiceEnvironment environment = {}) {
  ProcessTable::Process process;
  process.identity = process::ResolveServiceIdentity(environment, "server", "staging");
  process.container = std::move(container);
  return process;
}

process::ContainerMetadata Pod() {
  return process::ContainerMetadata{
      .tags = {{"container_name", "app"}, {"namespace", "shop"}, {"pod_name", "web-1"}},
      .runtime = "containerd",
      .service = "web",
      .env = "prod",
      .version = "1.4.2"};
}

TEST(ServiceKeyOfTest, HostProcessHasNoContainerTags) {
  const profile::ServiceKey key = ServiceKeyOf(ProcessIn(std::nullopt), nullptr);
  EXPECT_EQ(key.service, "server");
  EXPECT_EQ(key.env, "staging");
  EXPECT_THAT(key.tags, IsEmpty());
}

TEST(ServiceKeyOfTest, ContainerWithoutPodKeepsTheExecutableName) {
  const profile::ServiceKey key =
      ServiceKeyOf(ProcessIn(process::ContainerIdentity{.id = kId, .runtime = "docker"}), nullptr);
  EXPECT_EQ(key.service, "server");
  EXPECT_THAT(key.tags,
              ElementsAre(Pair("container_id", kId), Pair("container_runtime", "docker")));
}

TEST(ServiceKeyOfTest, PodNamingReplacesDefaultsAndTagsAreSorted) {
  const process::ContainerMetadata pod = Pod();
  const profile::ServiceKey key = ServiceKeyOf(
      ProcessIn(process::ContainerIdentity{.id = kId, .pod_uid = "u-1", .qos = "burstable"}), &pod);
  EXPECT_EQ(key.service, "web");
  EXPECT_EQ(key.env, "prod");
  EXPECT_EQ(key.version, "1.4.2");
  EXPECT_THAT(key.tags,
              ElementsAre(Pair("container_id", kId), Pair("container_name", "app"),
                          Pair("container_runtime", "containerd"), Pair("namespace", "shop"),
                          Pair("pod_name", "web-1"), Pair("pod_uid", "u-1")));
}

TEST(ServiceKeyOfTest, WhatTheProcessSetsWins) {
  const process::ContainerMetadata pod = Pod();
  const profile::ServiceKey key = ServiceKeyOf(
      ProcessIn(process::ContainerIdentity{.id = kId},
                process::ServiceEnvironment{
                    .otel_service_name = "checkout", .dd_env = "canary", .dd_version = "9"}),
      &pod);
  EXPECT_EQ(key.service, "checkout");
  EXPECT_EQ(key.env, "canary");
  EXPECT_EQ(key.version, "9");
}

TEST(ServiceKeyOfTest, PodWithoutEnvKeepsTheDefaultEnv) {
  process::ContainerMetadata pod = Pod();
  pod.env.clear();
  pod.version.clear();
  const profile::ServiceKey key =
      ServiceKeyOf(ProcessIn(process::ContainerIdentity{.id = kId}), &pod);
  EXPECT_EQ(key.env, "staging");
  EXPECT_EQ(key.version, "");
}

TEST(ServiceKeyOfTest, TwoContainersOfOneServiceAreTwoKeys) {
  const profile::ServiceKey a =
      ServiceKeyOf(ProcessIn(process::ContainerIdentity{.id = kId}), nullptr);
  const profile::ServiceKey b =
      ServiceKeyOf(ProcessIn(process::ContainerIdentity{.id = std::string(64, 'b')}), nullptr);
  EXPECT_EQ(a.service, b.service);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace profkit::pipeline
