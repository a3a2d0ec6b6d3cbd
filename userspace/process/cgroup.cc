#include "profkit/process/cgroup.h"

#include <array>
#include <utility>
#include <vector>

namespace profkit::process {
namespace {

constexpr size_t kContainerIdLength = 64;
// 8-4-4-4-12 hex digits.
constexpr size_t kPodUidLength = 36;

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsContainerId(std::string_view s) {
  if (s.size() != kContainerIdLength) return false;
  for (char c : s) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

// systemd's slice names write the UID's '-' as '_' (the kubelet escapes them).
std::optional<std::string> NormalizePodUid(std::string_view s) {
  if (s.size() != kPodUidLength) return std::nullopt;
  std::string uid(s);
  for (size_t i = 0; i < uid.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position) {
      if (uid[i] != '-' && uid[i] != '_') return std::nullopt;
      uid[i] = '-';
    } else if (!IsLowerHex(uid[i])) {
      return std::nullopt;
    }
  }
  return uid;
}

std::vector<std::string_view> PathElements(std::string_view path) {
  std::vector<std::string_view> elements;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view element = path.substr(0, slash);
    if (!element.empty() && element != "..") elements.push_back(element);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return elements;
}

struct RuntimePrefix {
  std::string_view prefix;
  std::string_view runtime;
};
// A runtime's helper processes live in cgroups that look like its containers': not a container.
constexpr std::array<std::string_view, 2> kHelperPrefixes = {"crio-conmon-", "libpod-conmon-"};
constexpr std::array<RuntimePrefix, 4> kRuntimePrefixes = {{
    {"cri-containerd-", "containerd"},
    {"crio-", "cri-o"},
    {"docker-", "docker"},
    {"libpod-", "podman"},
}};

// The container ID and runtime an element names, e.g. "cri-containerd-<id>.scope",
// "crio-<id>", "<id>", or containerd's cgroupfs-under-systemd
// "kubepods-...slice:cri-containerd:<id>".
std::optional<std::pair<std::string, std::string>> ContainerOf(std::string_view element) {
  if (element.ends_with(".scope")) element.remove_suffix(6);
  std::string_view runtime;
  if (const size_t colon = element.rfind(':'); colon != std::string_view::npos) {
    const std::string_view kind = element.substr(0, colon);
    if (kind.ends_with(":cri-containerd")) runtime = "containerd";
    if (kind.ends_with(":crio")) runtime = "cri-o";
    element.remove_prefix(colon + 1);
  }
  for (std::string_view helper : kHelperPrefixes) {
    if (element.starts_with(helper)) return std::nullopt;
  }
  for (const RuntimePrefix& known : kRuntimePrefixes) {
    if (element.starts_with(known.prefix)) {
      element.remove_prefix(known.prefix.size());
      runtime = known.runtime;
      break;
    }
  }
  if (!IsContainerId(element)) return std::nullopt;
  return std::make_pair(std::string(element), std::string(runtime));
}

// "kubepods-burstable-pod<uid_>.slice" (systemd driver) or "pod<uid>" (cgroupfs driver).
std::optional<std::string> PodUidOf(std::string_view element) {
  if (element.ends_with(".slice")) element.remove_suffix(6);
  const size_t pod = element.rfind("pod");
  if (pod == std::string_view::npos) return std::nullopt;
  if (pod != 0 && element[pod - 1] != '-') return std::nullopt;
  return NormalizePodUid(element.substr(pod + 3));
}

std::string QosOf(const std::vector<std::string_view>& elements) {
  for (std::string_view element : elements) {
    if (element == "besteffort" || element.starts_with("kubepods-besteffort")) return "besteffort";
    if (element == "burstable" || element.starts_with("kubepods-burstable")) return "burstable";
  }
  // Guaranteed pods sit directly under kubepods, without a QoS level.
  return "guaranteed";
}

std::optional<ContainerIdentity> ParsePath(std::string_view path) {
  std::vector<std::string_view> elements = PathElements(path);
  // Docker and podman may put the container's processes one level deeper ("/init",
  // "/container"); systemd mount units are never containers.
  if (!elements.empty() && (elements.back() == "init" || elements.back() == "container")) {
    elements.pop_back();
  }
  if (elements.empty() || elements.back().ends_with(".mount")) return std::nullopt;
  std::optional<std::pair<std::string, std::string>> container = ContainerOf(elements.back());
  if (!container) return std::nullopt;
  ContainerIdentity identity{.id = std::move(container->first),
                             .runtime = std::move(container->second)};
  // The pod's slice is a parent, or with containerd's cgroupfs naming under systemd the part of
  // the last element before its first ':'.
  std::vector<std::string_view> parents(elements.begin(), elements.end() - 1);
  if (const size_t colon = elements.back().find(':'); colon != std::string_view::npos) {
    parents.push_back(elements.back().substr(0, colon));
  }
  for (std::string_view parent : parents) {
    if (std::optional<std::string> uid = PodUidOf(parent)) {
      identity.pod_uid = std::move(*uid);
      identity.qos = QosOf(elements);
      break;
    }
  }
  // Plain Docker with the cgroupfs driver: "/docker/<id>".
  if (identity.runtime.empty() && elements.size() >= 2 &&
      elements[elements.size() - 2] == "docker") {
    identity.runtime = "docker";
  }
  return identity;
}

}  // namespace

std::optional<ContainerIdentity> ParseCgroupFile(std::string_view text) {
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    // "hierarchy-id:controllers:path"; the path itself may contain ':'.
    const size_t first = line.find(':');
    if (first == std::string_view::npos) continue;
    const size_t second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    if (std::optional<ContainerIdentity> identity = ParsePath(line.substr(second + 1))) {
      return identity;
    }
  }
  return std::nullopt;
}

}  // namespace profkit::process
