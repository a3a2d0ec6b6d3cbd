#include "kubernetes_config.h"

#include <cstdlib>

namespace profkit::config {
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kKubeletPort = 10250;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// "auto" (also when absent) or a bool.
Result<bool> ParseEnabled(const TomlSection& section) {
  const Status wrong =
      Status::InvalidInputf("{}: expected \"auto\", true or false", section.KeyPath("enabled"));
  Result<std::string> text = section.String("enabled", "auto");
  if (!text.ok()) {
    Result<bool> flag = section.Bool("enabled", false);
    return flag.ok() ? Result<bool>(*flag) : Result<bool>(wrong);
  }
  if (*text != "auto") return wrong;
  return !Env("KUBERNETES_SERVICE_HOST").empty();
}

Status ValidateFile(const TomlSection& section, std::string_view key, const std::string& path) {
  if (path.size() > 4096 || path.find('\0') != std::string::npos) {
    return Status::InvalidInputf("{}: not a usable path", section.KeyPath(key));
  }
  return Status::Ok();
}

}  // namespace

Result<KubernetesConfig> ParseKubernetes(const TomlSection& section) {
  KubernetesConfig k8s;
  PROFKIT_ASSIGN_OR_RETURN(k8s.enabled, ParseEnabled(section));
  PROFKIT_ASSIGN_OR_RETURN(k8s.kubelet_url, section.String("kubelet_url", ""));
  if (k8s.kubelet_url.empty()) {
    const std::string node_ip = Env("ENV_K8S_NODE_IP");
    // Some kubelets do not listen on 127.0.0.1; the DaemonSet sets ENV_K8S_NODE_IP.
    const bool v6 = node_ip.find(':') != std::string::npos;
    k8s.kubelet_url = fmt::format(
        "https://{}:{}", node_ip.empty() ? "127.0.0.1" : (v6 ? "[" + node_ip + "]" : node_ip),
        kKubeletPort);
  }
  if (!k8s.kubelet_url.starts_with("https://") && !k8s.kubelet_url.starts_with("http://")) {
    return Status::InvalidInputf("{}: must start with https:// (or http://)",
                                 section.KeyPath("kubelet_url"));
  }
  PROFKIT_ASSIGN_OR_RETURN(k8s.token_file, section.String("token_file", k8s.token_file));
  PROFKIT_RETURN_IF_ERROR(ValidateFile(section, "token_file", k8s.token_file));
  PROFKIT_ASSIGN_OR_RETURN(k8s.ca_file, section.String("ca_file", k8s.ca_file));
  PROFKIT_RETURN_IF_ERROR(ValidateFile(section, "ca_file", k8s.ca_file));
  PROFKIT_ASSIGN_OR_RETURN(k8s.insecure_skip_verify,
                           section.Bool("insecure_skip_verify", k8s.insecure_skip_verify));
  // "" (as in conf/profkit.toml) is the same as absent: the DaemonSet's environment, else defaults.
  PROFKIT_ASSIGN_OR_RETURN(k8s.node_name, section.String("node_name", ""));
  if (k8s.node_name.empty()) k8s.node_name = Env("ENV_K8S_NODE_NAME");
  PROFKIT_ASSIGN_OR_RETURN(k8s.cluster_name, section.String("cluster_name", ""));
  if (k8s.cluster_name.empty()) k8s.cluster_name = Env("ENV_CLUSTER_NAME_K8S");
  if (k8s.cluster_name.empty()) k8s.cluster_name = "default";
  PROFKIT_ASSIGN_OR_RETURN(k8s.refresh_interval,
                           section.Duration("refresh_interval", 1s, 1h, k8s.refresh_interval));
  return k8s;
}

Result<std::string> ParseHostProc(const TomlSection& agent) {
  const std::string fallback = Env("HOST_PROC");
  Result<std::string> value = agent.String("host_proc", fallback.empty() ? "/proc" : fallback);
  if (!value.ok()) return value.status();
  const size_t last = value->find_last_not_of('/');
  if (!value->starts_with('/')) {
    return Status::InvalidInputf("{}: must be an absolute path", agent.KeyPath("host_proc"));
  }
  // "/rootfs/proc/" and "/rootfs/proc" are one directory; "/" stays "/".
  return last == std::string::npos ? std::string("/") : value->substr(0, last + 1);
}

std::string DefaultDatawayUrl() { return Env("ENV_DATAWAY"); }

}  // namespace profkit::config
