// How a pod names its workload and service, with DataKit's tag names (docs/KUBERNETES.md):
// the workload from the pod's first controller owner, the service from the pod's labels.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace profkit::kubernetes {

using Labels = std::map<std::string, std::string, std::less<>>;

struct OwnerReference {
  std::string kind;  // "ReplicaSet", "DaemonSet", "StatefulSet", "Job", ...
  std::string name;
};

struct Workload {
  std::string kind;  // the tag: "deployment", "daemonset", "statefulset", "job", "cronjob"
  std::string name;

  bool operator==(const Workload&) const = default;
};

// The workloads a pod belongs to, outermost last (a CronJob's Job gives job and cronjob):
// - ReplicaSet "<deployment>-<pod-template-hash>" (the pod's label) → deployment;
// - DaemonSet, StatefulSet, Job → daemonset, statefulset, job;
// - a Job named "<cronjob>-<scheduled minute>" (8 or more digits, which is how the CronJob
//   controller names them; the kubelet's pod list does not show the Job's own owner) → also
//   cronjob.
// A bare ReplicaSet, static pods (owned by their Node) and other kinds give none.
std::vector<Workload> WorkloadsOf(const std::optional<OwnerReference>& owner, const Labels& labels);

struct PodNaming {
  std::string service;  // never empty
  std::string env;
  std::string version;
};

// service: label tags.datadoghq.com/service, app.kubernetes.io/name, app.kubernetes.io/instance,
// the outermost workload's name, else the container's name (for a pod-level upload without one,
// the pod's name). env and version: labels tags.datadoghq.com/env and /version.
PodNaming NamingOf(const Labels& labels, const std::vector<Workload>& workloads,
                   std::string_view container_name);

// A value from the kubelet made safe for a tag: trimmed, at most kMaxTagBytes, ',' and control
// characters replaced by '_'.
std::string TagValue(std::string_view value);

}  // namespace profkit::kubernetes
