#include "profkit/pipeline/service_key.h"

#include <algorithm>

namespace profkit::pipeline {

profile::ServiceKey ServiceKeyOf(const ProcessTable::Process& process,
                                 const process::ContainerMetadata* pod) {
  const process::ServiceIdentity& identity = process.identity;
  profile::ServiceKey key{.service = identity.service,
                          .env = identity.env,
                          .version = identity.version,
                          .language = process.language,
                          .runtime_version = process.runtime_version};
  if (!process.container) return key;
  const process::ContainerIdentity& container = *process.container;
  key.tags.emplace_back("container_id", container.id);
  std::string runtime = container.runtime;
  if (runtime.empty() && pod != nullptr) runtime = pod->runtime;
  if (!runtime.empty()) key.tags.emplace_back("container_runtime", std::move(runtime));
  if (!container.pod_uid.empty()) key.tags.emplace_back("pod_uid", container.pod_uid);
  if (pod != nullptr) {
    for (const auto& tag : pod->tags) {
      // The cgroup's own identity is the ground truth; the pod list only adds to it.
      if (tag.first == "container_id" || tag.first == "container_runtime" || tag.first == "pod_uid")
        continue;
      key.tags.push_back(tag);
    }
    if (!identity.service_from_process && !pod->service.empty()) key.service = pod->service;
    if (!identity.env_from_process && !pod->env.empty()) key.env = pod->env;
    if (!identity.version_from_process && !pod->version.empty()) key.version = pod->version;
  }
  std::sort(key.tags.begin(), key.tags.end());
  return key;
}

}  // namespace profkit::pipeline
