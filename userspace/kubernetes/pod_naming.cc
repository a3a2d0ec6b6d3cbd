#include "profkit/kubernetes/pod_naming.h"

#include <algorithm>

#include "profkit/common/limits.h"

namespace profkit::kubernetes {
namespace {

// The CronJob controller names its Jobs "<cronjob>-<minutes since the epoch>": 8 digits since
// 1973.
constexpr size_t kMinScheduledMinuteDigits = 8;

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string LabelOf(const Labels& labels, std::string_view key) {
  auto it = labels.find(key);
  return it == labels.end() ? std::string() : TagValue(it->second);
}

}  // namespace

std::string TagValue(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  std::string out(value.substr(0, kMaxTagBytes));
  for (char& c : out) {
    if (c == ',' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
  }
  return out;
}

std::vector<Workload> WorkloadsOf(const std::optional<OwnerReference>& owner,
                                  const Labels& labels) {
  if (!owner || owner->name.empty()) return {};
  const std::string name = Lower(TagValue(owner->name));
  if (owner->kind == "ReplicaSet") {
    const std::string hash = LabelOf(labels, "pod-template-hash");
    const std::string suffix = "-" + hash;
    if (hash.empty() || !name.ends_with(suffix) || name.size() == suffix.size()) return {};
    return {{"deployment", name.substr(0, name.size() - suffix.size())}};
  }
  if (owner->kind == "DaemonSet") return {{"daemonset", name}};
  if (owner->kind == "StatefulSet") return {{"statefulset", name}};
  if (owner->kind == "Job") {
    std::vector<Workload> workloads = {{"job", name}};
    const size_t dash = name.rfind('-');
    if (dash != std::string::npos && dash > 0) {
      const std::string_view minute = std::string_view(name).substr(dash + 1);
      if (AllDigits(minute) && minute.size() >= kMinScheduledMinuteDigits) {
        workloads.push_back({"cronjob", name.substr(0, dash)});
      }
    }
    return workloads;
  }
  return {};
}

PodNaming NamingOf(const Labels& labels, const std::vector<Workload>& workloads,
                   std::string_view container_name) {
  PodNaming naming;
  for (std::string_view key :
       {"tags.datadoghq.com/service", "app.kubernetes.io/name", "app.kubernetes.io/instance"}) {
    naming.service = LabelOf(labels, key);
    if (!naming.service.empty()) break;
  }
  if (naming.service.empty() && !workloads.empty()) naming.service = workloads.back().name;
  if (naming.service.empty()) naming.service = TagValue(container_name);
  naming.env = LabelOf(labels, "tags.datadoghq.com/env");
  naming.version = LabelOf(labels, "tags.datadoghq.com/version");
  return naming;
}

}  // namespace profkit::kubernetes
