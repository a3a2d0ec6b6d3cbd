// Container identity of a process from its /proc/<pid>/cgroup: container ID, runtime, pod UID
// and QoS class, for every runtime and cgroup driver the kubelet and plain container hosts use
// (the path patterns are listed in docs/KUBERNETES.md). Pure: takes the file's text.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace profkit::process {

// A /proc/<pid>/cgroup of a hybrid host has one line per v1 hierarchy (about 13) plus the v2
// line, each path at most a few hundred bytes.
inline constexpr size_t kMaxCgroupFileBytes = 64 << 10;

struct ContainerIdentity {
  std::string id;       // 64 lowercase hex digits
  std::string runtime;  // "containerd", "cri-o", "docker", "podman"; "" when the path does not say
  std::string pod_uid;  // "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"; "" outside Kubernetes
  std::string qos;      // "burstable", "besteffort", "guaranteed"; "" outside Kubernetes

  bool operator==(const ContainerIdentity&) const = default;
};

// The first line whose path ends in a container ID (cgroup v2's "0::" and v1's
// "N:controllers:" lines alike; the order of the lines does not matter, they agree). nullopt for
// a process in no container, and for a container runtime's own helpers (conmon, .mount units).
// Leading "../" components (the reader is in a cgroup namespace) are ignored: the IDs are in the
// last components.
std::optional<ContainerIdentity> ParseCgroupFile(std::string_view text);

}  // namespace profkit::process
