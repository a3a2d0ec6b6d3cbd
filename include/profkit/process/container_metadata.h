// What the orchestrator knows about a container, looked up by its ID: the pod's tags and the
// service naming the pod gives its processes. The kubernetes module serves it from the kubelet's
// pod list; the pipeline asks for every container a sampled process runs in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace profkit::process {

using Tags = std::vector<std::pair<std::string, std::string>>;

struct ContainerMetadata {
  // pod_name, namespace, pod_namespace, container_name, image, node_name, cluster_name_k8s and
  // the workload (deployment, daemonset, ...), sorted by key.
  Tags tags;
  // From the kubelet's "<runtime>://<id>": the runtime when the cgroup path does not say.
  std::string runtime;
  // The pod's naming for a process that names itself nothing (no DD_SERVICE/OTEL_SERVICE_NAME,
  // DD_ENV, DD_VERSION); service is never empty, env and version may be.
  std::string service;
  std::string env;
  std::string version;
};

class ContainerMetadataSource {
 public:
  virtual ~ContainerMetadataSource() = default;
  // Changes whenever an answer of Find may have changed (a new pod list). Thread-safe.
  virtual uint64_t generation() const = 0;
  // The container's metadata, or null when unknown (which may ask for a refresh). Thread-safe.
  virtual std::shared_ptr<const ContainerMetadata> Find(std::string_view container_id) = 0;
};

}  // namespace profkit::process
