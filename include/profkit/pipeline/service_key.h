// The key a process's samples are aggregated under: its service identity and language, and where
// it runs (container and pod tags). One function so the precedence lives in one place.
#pragma once

#include "profkit/pipeline/process_table.h"
#include "profkit/process/container_metadata.h"
#include "profkit/profile/frame.h"

namespace profkit::pipeline {

// Tags: container_id, container_runtime (the cgroup path's, else the pod list's), pod_uid, and
// the pod's tags when `pod` is known. Naming in a pod: what the process set itself
// (DD_SERVICE/OTEL_SERVICE_NAME, DD_ENV, DD_VERSION) wins, else the pod's naming
// (kubernetes/pod_naming.h), so the executable's name is never a pod's service.
profile::ServiceKey ServiceKeyOf(const ProcessTable::Process& process,
                                 const process::ContainerMetadata* pod);

}  // namespace profkit::pipeline
