#include "profkit/kubernetes/pod_list.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "profkit/kubernetes/pod_naming.h"

namespace profkit::kubernetes {
namespace {

using nlohmann::json;

// Parts of a pod profkit never reads, and the bulk of the document (managedFields alone is often
// half of it): dropped while parsing so the parsed tree stays small. None of these names is one
// of the labels profkit reads, so dropping them wherever they appear loses nothing.
const std::unordered_set<std::string_view>& DroppedKeys() {
  static const std::unordered_set<std::string_view> keys = {"managedFields",
                                                            "annotations",
                                                            "volumes",
                                                            "volumeMounts",
                                                            "env",
                                                            "envFrom",
                                                            "conditions",
                                                            "resources",
                                                            "securityContext",
                                                            "livenessProbe",
                                                            "readinessProbe",
                                                            "startupProbe",
                                                            "affinity",
                                                            "tolerations",
                                                            "command",
                                                            "args",
                                                            "ports",
                                                            "lastState",
                                                            "state",
                                                            "lifecycle",
                                                            "topologySpreadConstraints",
                                                            "allocatedResources",
                                                            "volumeDevices",
                                                            "resizePolicy",
                                                            "readinessGates",
                                                            "imagePullSecrets",
                                                            "dnsConfig",
                                                            "hostAliases",
                                                            "nodeSelector"};
  return keys;
}

std::string StringAt(const json& object, std::string_view key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

const json* ObjectAt(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? &*it : nullptr;
}

const json* ArrayAt(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it != object.end() && it->is_array() ? &*it : nullptr;
}

Labels LabelsOf(const json& metadata) {
  Labels labels;
  if (const json* object = ObjectAt(metadata, "labels")) {
    for (const auto& [key, value] : object->items()) {
      if (value.is_string()) labels.emplace(key, value.get<std::string>());
    }
  }
  return labels;
}

// The controller owner, else the first one.
std::optional<OwnerReference> OwnerOf(const json& metadata) {
  const json* owners = ArrayAt(metadata, "ownerReferences");
  if (owners == nullptr || owners->empty()) return std::nullopt;
  const json* chosen = &owners->front();
  for (const json& owner : *owners) {
    auto controller = owner.is_object() ? owner.find("controller") : owner.end();
    if (owner.is_object() && controller != owner.end() && controller->is_boolean() &&
        controller->get<bool>()) {
      chosen = &owner;
      break;
    }
  }
  return OwnerReference{.kind = StringAt(*chosen, "kind"), .name = StringAt(*chosen, "name")};
}

// "containerd://<id>" → ("containerd", "<id>"); the kubelet writes "cri-o://" and "docker://" too.
std::pair<std::string, std::string> SplitContainerId(std::string_view id) {
  const size_t sep = id.find("://");
  if (sep == std::string_view::npos) return {"", std::string(id)};
  return {std::string(id.substr(0, sep)), std::string(id.substr(sep + 3))};
}

struct PodTags {
  process::Tags tags;
  Labels labels;
  std::vector<Workload> workloads;
};

void AddContainers(const json& statuses, const PodTags& pod, PodIndex& index, size_t& budget) {
  for (const json& status : statuses) {
    if (budget == 0) return;
    const auto [runtime, id] = SplitContainerId(StringAt(status, "containerID"));
    // Empty while the container is waiting to start.
    if (id.empty()) continue;
    --budget;
    const std::string name = StringAt(status, "name");
    auto metadata = std::make_shared<process::ContainerMetadata>();
    metadata->tags = pod.tags;
    if (!name.empty()) metadata->tags.emplace_back("container_name", TagValue(name));
    if (std::string image = TagValue(StringAt(status, "image")); !image.empty()) {
      metadata->tags.emplace_back("image", std::move(image));
    }
    std::sort(metadata->tags.begin(), metadata->tags.end());
    metadata->runtime = runtime == "cri-o" ? "cri-o" : TagValue(runtime);
    PodNaming naming = NamingOf(pod.labels, pod.workloads, name);
    metadata->service = std::move(naming.service);
    metadata->env = std::move(naming.env);
    metadata->version = std::move(naming.version);
    index.containers.insert_or_assign(id, std::move(metadata));
  }
}

// False for an item that is no pod (no metadata.name).
bool AddPod(const json& item, const NodeContext& node, PodIndex& index) {
  const json* metadata = ObjectAt(item, "metadata");
  const std::string name = metadata != nullptr ? StringAt(*metadata, "name") : "";
  if (name.empty()) return false;
  const json empty = json::object();
  const json& spec = ObjectAt(item, "spec") != nullptr ? *ObjectAt(item, "spec") : empty;
  const json& status = ObjectAt(item, "status") != nullptr ? *ObjectAt(item, "status") : empty;
  PodTags pod;
  pod.labels = LabelsOf(*metadata);
  pod.workloads = WorkloadsOf(OwnerOf(*metadata), pod.labels);
  const std::string ns = TagValue(StringAt(*metadata, "namespace"));
  pod.tags = {{"pod_name", TagValue(name)}, {"cluster_name_k8s", node.cluster_name}};
  if (!ns.empty()) {
    pod.tags.emplace_back("namespace", ns);
    pod.tags.emplace_back("pod_namespace", ns);
  }
  if (std::string uid = TagValue(StringAt(*metadata, "uid")); !uid.empty()) {
    pod.tags.emplace_back("pod_uid", std::move(uid));
  }
  std::string node_name =
      node.node_name.empty() ? TagValue(StringAt(spec, "nodeName")) : node.node_name;
  if (!node_name.empty()) pod.tags.emplace_back("node_name", std::move(node_name));
  for (const Workload& workload : pod.workloads)
    pod.tags.emplace_back(workload.kind, workload.name);

  size_t budget = kMaxContainersPerPod;
  for (std::string_view key :
       {"containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"}) {
    if (const json* statuses = ArrayAt(status, key)) AddContainers(*statuses, pod, index, budget);
  }

  // A host-network pod's IP is the node's, shared by all of them; a finished pod's IP is reused.
  const auto host_network = spec.find("hostNetwork");
  if (host_network != spec.end() && host_network->is_boolean() && host_network->get<bool>()) {
    return true;
  }
  const std::string phase = StringAt(status, "phase");
  if (phase == "Succeeded" || phase == "Failed") return true;
  auto pod_level = std::make_shared<process::ContainerMetadata>();
  pod_level->tags = pod.tags;
  std::sort(pod_level->tags.begin(), pod_level->tags.end());
  PodNaming naming = NamingOf(pod.labels, pod.workloads, name);
  pod_level->service = std::move(naming.service);
  pod_level->env = std::move(naming.env);
  pod_level->version = std::move(naming.version);
  std::vector<std::string> ips;
  if (std::string ip = StringAt(status, "podIP"); !ip.empty()) ips.push_back(std::move(ip));
  if (const json* pod_ips = ArrayAt(status, "podIPs")) {
    for (const json& entry : *pod_ips) {
      if (std::string ip = StringAt(entry, "ip"); !ip.empty()) ips.push_back(std::move(ip));
    }
  }
  for (const std::string& ip : ips) index.pods_by_ip.insert_or_assign(ip, pod_level);
  return true;
}

}  // namespace

Result<PodIndex> ParsePodList(std::string_view text, const NodeContext& node) {
  if (text.size() > kMaxPodListBytes) {
    return Status::TooLargef("kubelet /pods: {} bytes, more than the {} MiB profkit reads",
                             text.size(), kMaxPodListBytes >> 20);
  }
  const json::parser_callback_t drop_unused = [](int /*depth*/, json::parse_event_t event,
                                                 json& parsed) {
    if (event != json::parse_event_t::key) return true;
    return !DroppedKeys().contains(parsed.get_ref<const std::string&>());
  };
  json document;
  try {
    document = json::parse(text, drop_unused);
  } catch (const json::exception& e) {
    return Status::InvalidInputf("kubelet /pods: not JSON: {}", e.what());
  }
  if (!document.is_object()) {
    return Status::InvalidInput("kubelet /pods: not a JSON object (expected a v1 PodList)");
  }
  if (const std::string kind = StringAt(document, "kind"); !kind.empty() && kind != "PodList") {
    return Status::InvalidInputf("kubelet /pods: kind is '{}', expected PodList",
                                 TagValue(kind).substr(0, 40));
  }
  const json* items = ArrayAt(document, "items");
  if (items == nullptr) {
    if (document.contains("items") && !document["items"].is_null()) {
      return Status::InvalidInput("kubelet /pods: items is not an array");
    }
    return PodIndex{};  // a node without pods may answer "items": null
  }
  PodIndex index;
  for (const json& item : *items) {
    if (index.pods >= kMaxPods) {
      ++index.skipped_pods;
      continue;
    }
    if (item.is_object() && AddPod(item, node, index)) {
      ++index.pods;
    } else {
      ++index.skipped_pods;
    }
  }
  return index;
}

}  // namespace profkit::kubernetes
