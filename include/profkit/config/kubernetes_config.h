// [kubernetes]: where profkit finds the node's pods (the kubelet), and how it tags them.
// Defaults follow DataKit's DaemonSet environment (ENV_K8S_NODE_IP, ENV_K8S_NODE_NAME,
// ENV_CLUSTER_NAME_K8S) and the service account files every pod gets.
#pragma once

#include <chrono>
#include <string>

namespace profkit::config {

inline constexpr char kServiceAccountTokenFile[] =
    "/var/run/secrets/kubernetes.io/serviceaccount/token";
inline constexpr char kServiceAccountCaFile[] =
    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

struct KubernetesConfig {
  // enabled = "auto" (the default) is true inside a pod (KUBERNETES_SERVICE_HOST is set).
  bool enabled = false;
  // "" until resolved: https://$ENV_K8S_NODE_IP:10250, else https://127.0.0.1:10250.
  std::string kubelet_url;
  std::string token_file = kServiceAccountTokenFile;
  std::string ca_file = kServiceAccountCaFile;
  bool insecure_skip_verify = false;
  // node_name tag; "" = ENV_K8S_NODE_NAME, else each pod's spec.nodeName.
  std::string node_name;
  // cluster_name_k8s tag; ENV_CLUSTER_NAME_K8S, else "default".
  std::string cluster_name = "default";
  std::chrono::nanoseconds refresh_interval = std::chrono::seconds(30);
};

}  // namespace profkit::config
