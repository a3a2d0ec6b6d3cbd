// The kubelet's /pods answer (a v1 PodList) as the index profkit looks containers and pod IPs up
// in. Only the fields profkit tags with are kept; everything else of the (large) document is
// dropped while parsing.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "profkit/common/status.h"
#include "profkit/process/container_metadata.h"

namespace profkit::kubernetes {

// A kubelet of 500 pods answers a few MiB; more than this is not a pod list we can use.
inline constexpr size_t kMaxPodListBytes = 64 << 20;
// Beyond these the rest of the list is ignored (and counted): a node runs at most a few hundred
// pods (the kubelet's maxPods default is 110).
inline constexpr size_t kMaxPods = 5000;
inline constexpr size_t kMaxContainersPerPod = 256;

struct NodeContext {
  std::string node_name;     // node_name tag; "" = the pod's spec.nodeName
  std::string cluster_name;  // cluster_name_k8s tag
};

struct PodIndex {
  // By container ID without its "<runtime>://" prefix: containers, init and ephemeral containers.
  std::unordered_map<std::string, std::shared_ptr<const process::ContainerMetadata>> containers;
  // By pod IP (status.podIPs), for pods with their own network namespace that are not finished:
  // the pod-level tags and naming (no container_name, image).
  std::unordered_map<std::string, std::shared_ptr<const process::ContainerMetadata>> pods_by_ip;
  size_t pods = 0;
  size_t skipped_pods = 0;  // beyond kMaxPods, or without a name
};

// Errors name what is wrong ("kubelet /pods: not JSON at byte 12: ...", "...: items is not an
// array"); a pod missing optional fields is indexed with what it has.
Result<PodIndex> ParsePodList(std::string_view json, const NodeContext& node);

}  // namespace profkit::kubernetes
