#include "profkit/kubernetes/pod_naming.h"

#include <gtest/gtest.h>

namespace profkit::kubernetes {
namespace {

std::vector<Workload> Of(std::string kind, std::string name, Labels labels = {}) {
  return WorkloadsOf(OwnerReference{.kind = std::move(kind), .name = std::move(name)}, labels);
}

TEST(WorkloadsOfTest, EachOwnerKind) {
  EXPECT_EQ(Of("ReplicaSet", "web-7d9f8b6c5d", {{"pod-template-hash", "7d9f8b6c5d"}}),
            (std::vector<Workload>{{"deployment", "web"}}));
  EXPECT_EQ(Of("DaemonSet", "node-exporter"),
            (std::vector<Workload>{{"daemonset", "node-exporter"}}));
  EXPECT_EQ(Of("StatefulSet", "DB"), (std::vector<Workload>{{"statefulset", "db"}}));
  EXPECT_EQ(Of("Job", "migrate-2"), (std::vector<Workload>{{"job", "migrate-2"}}));
  EXPECT_EQ(Of("Job", "backup-29012345"),
            (std::vector<Workload>{{"job", "backup-29012345"}, {"cronjob", "backup"}}));
}

TEST(WorkloadsOfTest, NoWorkload) {
  EXPECT_TRUE(Of("ReplicaSet", "web-abc").empty()) << "no pod-template-hash label";
  EXPECT_TRUE(Of("ReplicaSet", "web-abc", {{"pod-template-hash", "zzz"}}).empty());
  EXPECT_TRUE(Of("ReplicaSet", "-abc", {{"pod-template-hash", "abc"}}).empty());
  EXPECT_TRUE(Of("Node", "node-1").empty()) << "static pod";
  EXPECT_TRUE(Of("DaemonSet", "").empty());
  EXPECT_TRUE(WorkloadsOf(std::nullopt, {}).empty());
}

TEST(NamingOfTest, Precedence) {
  const std::vector<Workload> deployment = {{"deployment", "web"}};
  Labels labels = {{"tags.datadoghq.com/service", "shop-web"},
                   {"app.kubernetes.io/name", "web-name"},
                   {"app.kubernetes.io/instance", "web-instance"},
                   {"tags.datadoghq.com/env", "prod"},
                   {"tags.datadoghq.com/version", "1.4.2"}};
  PodNaming naming = NamingOf(labels, deployment, "app");
  EXPECT_EQ(naming.service, "shop-web");
  EXPECT_EQ(naming.env, "prod");
  EXPECT_EQ(naming.version, "1.4.2");
  labels.erase("tags.datadoghq.com/service");
  EXPECT_EQ(NamingOf(labels, deployment, "app").service, "web-name");
  labels.erase("app.kubernetes.io/name");
  EXPECT_EQ(NamingOf(labels, deployment, "app").service, "web-instance");
  labels.erase("app.kubernetes.io/instance");
  EXPECT_EQ(NamingOf(labels, deployment, "app").service, "web");
  EXPECT_EQ(NamingOf(labels, {{"job", "backup-29012345"}, {"cronjob", "backup"}}, "app").service,
            "backup");
  EXPECT_EQ(NamingOf(labels, {}, "app").service, "app");
  EXPECT_EQ(NamingOf({{"app.kubernetes.io/name", "  "}}, {}, "app").service, "app");
}

TEST(TagValueTest, Sanitized) {
  EXPECT_EQ(TagValue(" a,b\n "), "a_b_");
  EXPECT_EQ(TagValue(std::string(500, 'x')).size(), 200u);
}

}  // namespace
}  // namespace profkit::kubernetes
