// Reading [kubernetes] and the environment variables its defaults come from.
#pragma once

#include "profkit/common/status.h"
#include "profkit/config/kubernetes_config.h"
#include "toml_section.h"

namespace profkit::config {

// Errors name the dotted key. Environment defaults are read here (getenv), so a config parsed
// in a pod gets the downward-API values of deploy/profkit.yaml.
Result<KubernetesConfig> ParseKubernetes(const TomlSection& section);

// [agent] host_proc: the key, else $HOST_PROC (DataKit's), else "/proc".
Result<std::string> ParseHostProc(const TomlSection& agent);

// dataway.url when the config leaves it empty: $ENV_DATAWAY (DataKit's), else "".
std::string DefaultDatawayUrl();

}  // namespace profkit::config
