#include "profkit/process/cgroup.h"

#include <gtest/gtest.h>

#include <string>

namespace profkit::process {
namespace {

// Placeholders of the shapes the runtimes write: a 64-hex container ID and a pod UID (dashes in
// cgroupfs names, underscores in systemd slice names).
const std::string kId = "3f5c0a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789ab";
const std::string kUid = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9";
const std::string kUid_ = "0f1e2d3c_4b5a_6978_8695_a4b3c2d1e0f9";

struct Case {
  std::string name;
  std::string file;
  std::optional<ContainerIdentity> want;
};

ContainerIdentity In(std::string runtime, std::string pod_uid = "", std::string qos = "") {
  return ContainerIdentity{
      .id = kId, .runtime = std::move(runtime), .pod_uid = std::move(pod_uid), .qos = qos};
}

// A cgroup v1 host repeats the path for each controller; a hybrid host adds the v2 line.
std::string V1(const std::string& path) {
  return "12:pids:" + path + "\n11:memory:" + path + "\n4:cpu,cpuacct:" + path +
         "\n1:name=systemd:" + path + "\n";
}

std::vector<Case> Cases() {
  const std::string burstable =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUid_ + ".slice/";
  return {
      {"containerd systemd v2 burstable", "0::" + burstable + "cri-containerd-" + kId + ".scope\n",
       In("containerd", kUid, "burstable")},
      {"containerd systemd v2 besteffort",
       "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUid_ +
           ".slice/cri-containerd-" + kId + ".scope\n",
       In("containerd", kUid, "besteffort")},
      {"containerd systemd v2 guaranteed",
       "0::/kubepods.slice/kubepods-pod" + kUid_ + ".slice/cri-containerd-" + kId + ".scope\n",
       In("containerd", kUid, "guaranteed")},
      {"containerd systemd v1", V1(burstable + "cri-containerd-" + kId + ".scope"),
       In("containerd", kUid, "burstable")},
      {"containerd systemd hybrid",
       V1(burstable + "cri-containerd-" + kId + ".scope") + "0::" + burstable + "cri-containerd-" +
           kId + ".scope\n",
       In("containerd", kUid, "burstable")},
      {"cgroupfs v1 besteffort", V1("/kubepods/besteffort/pod" + kUid + "/" + kId),
       In("", kUid, "besteffort")},
      {"cgroupfs v2 burstable", "0::/kubepods/burstable/pod" + kUid + "/" + kId + "\n",
       In("", kUid, "burstable")},
      {"cgroupfs guaranteed", "0::/kubepods/pod" + kUid + "/" + kId + "\n",
       In("", kUid, "guaranteed")},
      {"cri-o systemd", "0::" + burstable + "crio-" + kId + ".scope\n",
       In("cri-o", kUid, "burstable")},
      {"cri-o cgroupfs", "0::/kubepods/besteffort/pod" + kUid + "/crio-" + kId + "\n",
       In("cri-o", kUid, "besteffort")},
      {"cri-o conmon is not the container", "0::" + burstable + "crio-conmon-" + kId + ".scope\n",
       std::nullopt},
      {"containerd cgroupfs names under a systemd kubelet",
       "4:cpu,cpuacct:/system.slice/containerd.service/kubepods-besteffort-pod" + kUid_ +
           ".slice:cri-containerd:" + kId + "\n",
       In("containerd", kUid, "besteffort")},
      {"cri-dockerd", "0::" + burstable + "docker-" + kId + ".scope\n",
       In("docker", kUid, "burstable")},
      {"docker systemd", "0::/system.slice/docker-" + kId + ".scope\n", In("docker")},
      {"docker systemd init", "0::/system.slice/docker-" + kId + ".scope/init\n", In("docker")},
      {"docker cgroupfs v1", "4:memory:/docker/" + kId + "\n3:pids:/docker/" + kId + "\n",
       In("docker")},
      {"podman rootful", "0::/machine.slice/libpod-" + kId + ".scope\n", In("podman")},
      {"podman container subgroup", "0::/machine.slice/libpod-" + kId + ".scope/container\n",
       In("podman")},
      {"podman rootless",
       "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + kId + ".scope\n",
       In("podman")},
      {"podman cgroupfs", "0::/libpod_parent/libpod-" + kId + "\n", In("podman")},
      {"podman conmon", "0::/machine.slice/libpod-conmon-" + kId + ".scope\n", std::nullopt},
      {"reader in a cgroup namespace",
       "0::/../../kubepods-besteffort-pod" + kUid_ + ".slice/docker-" + kId + ".scope\n",
       In("docker", kUid, "besteffort")},
      {"reader in a cgroup namespace, container's own view", "0::/../../../" + kId + "\n", In("")},
      {"mount unit", "0::/system.slice/var-lib-docker-overlay2-" + kId + ".mount\n", std::nullopt},
      {"host service", "0::/system.slice/sshd.service\n", std::nullopt},
      {"user session", "0::/user.slice/user-1000.slice/session-3.scope\n", std::nullopt},
      {"init", "0::/init.scope\n", std::nullopt},
      {"root", "0::/\n", std::nullopt},
      {"ctr's user-chosen ids are not recognised", "0::/default/redis-server\n", std::nullopt},
      {"uppercase hex is not an id", "0::/docker/" + std::string(64, 'A') + "\n", std::nullopt},
      {"63 hex digits", "0::/docker/" + kId.substr(1) + "\n", std::nullopt},
      {"a bad pod uid still gives the container",
       "0::/kubepods/burstable/podnot-a-uid/" + kId + "\n", In("")},
      {"no trailing newline", "0::/system.slice/docker-" + kId + ".scope", In("docker")},
  };
}

TEST(ParseCgroupFileTest, EveryRuntimeDriverAndCgroupVersion) {
  for (const Case& c : Cases()) {
    EXPECT_EQ(ParseCgroupFile(c.file), c.want) << c.name << "\n" << c.file;
  }
}

TEST(ParseCgroupFileTest, GarbageIsNoContainer) {
  for (const std::string& garbage :
       {std::string(), std::string("\n\n::\n"), std::string("0:"), std::string(1 << 16, ':'),
        std::string("\0\0\0", 3), std::string(4096, '/'), "0::" + std::string(70000, 'a')}) {
    EXPECT_EQ(ParseCgroupFile(garbage), std::nullopt);
  }
}

}  // namespace
}  // namespace profkit::process
