// Cost of parsing the kubelet's pod list: a synthetic list shaped like a real node's (labels,
// owners, managedFields, env, volumes, statuses), of PODS pods with CONTAINERS containers each.
//   build/bench/kubernetes/profkit_pod_list_bench [PODS=500] [CONTAINERS=10] [ROUNDS=5]
// Prints the document's size, the best and median parse time, and the peak RSS the parse added.
#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "profkit/kubernetes/pod_list.h"

namespace {

std::string PodList(int pods, int containers) {
  std::string text = R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":[)";
  for (int pod = 0; pod < pods; ++pod) {
    if (pod > 0) text += ',';
    std::string statuses, specs;
    for (int c = 0; c < containers; ++c) {
      const char* sep = c > 0 ? "," : "";
      statuses += fmt::format(
          R"({}{{"name":"c{}","containerID":"containerd://{:064x}","image":"registry.example/app-{}:1.0","imageID":"registry.example/app@sha256:{:064x}","ready":true,"started":true,"restartCount":0,"state":{{"running":{{"startedAt":"2026-01-01T00:00:00Z"}}}},"lastState":{{}}}})",
          sep, c, pod * containers + c, c, pod * containers + c);
      specs += fmt::format(
          R"({}{{"name":"c{}","image":"registry.example/app-{}:1.0","env":[{{"name":"A","value":"{}"}},{{"name":"POD_IP","valueFrom":{{"fieldRef":{{"fieldPath":"status.podIP"}}}}}}],"resources":{{"requests":{{"cpu":"10m","memory":"32Mi"}}}},"volumeMounts":[{{"name":"kube-api-access","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","readOnly":true}}],"livenessProbe":{{"httpGet":{{"path":"/healthz","port":8080}}}}}})",
          sep, c, c, std::string(120, 'v'));
    }
    text += fmt::format(
        R"({{"metadata":{{"name":"app-{0}-7d9f8b6c5d-abcde","namespace":"ns-{1}","uid":"{0:08x}-0000-4000-8000-000000000000","labels":{{"app.kubernetes.io/name":"app-{0}","pod-template-hash":"7d9f8b6c5d","tags.datadoghq.com/env":"prod"}},"annotations":{{"kubernetes.io/config.seen":"2026-01-01T00:00:00Z"}},"ownerReferences":[{{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"app-{0}-7d9f8b6c5d","uid":"x","controller":true,"blockOwnerDeletion":true}}],"managedFields":[{{"manager":"kube-controller-manager","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{{"f:metadata":{{"f:labels":{{".":{{}},"f:app":{{}}}}}},"f:spec":{{"f:containers":{{}}}}}}}}]}},"spec":{{"nodeName":"node-1","containers":[{2}],"volumes":[{{"name":"kube-api-access","projected":{{"sources":[{{"serviceAccountToken":{{"path":"token"}}}}]}}}}],"tolerations":[{{"operator":"Exists"}}]}},"status":{{"phase":"Running","hostIP":"10.0.0.5","podIP":"10.1.{3}.{4}","podIPs":[{{"ip":"10.1.{3}.{4}"}}],"qosClass":"Burstable","conditions":[{{"type":"Ready","status":"True"}}],"containerStatuses":[{5}]}}}})",
        pod, pod % 20, specs, pod / 250, pod % 250, statuses);
  }
  return text + "]}";
}

// CPU time of this thread: on a loaded machine the wall time says more about the neighbours.
double ThreadCpuMs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

long PeakRssKib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  const int pods = argc > 1 ? std::atoi(argv[1]) : 500;
  const int containers = argc > 2 ? std::atoi(argv[2]) : 10;
  const int rounds = std::max(1, argc > 3 ? std::atoi(argv[3]) : 5);
  const std::string text = PodList(pods, containers);
  const long rss_before = PeakRssKib();
  std::vector<double> ms, cpu_ms;
  size_t indexed = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ThreadCpuMs();
    profkit::Result<profkit::kubernetes::PodIndex> index =
        profkit::kubernetes::ParsePodList(text, {.node_name = "node-1", .cluster_name = "c"});
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    cpu_ms.push_back(ThreadCpuMs() - cpu_start);
    if (!index.ok()) {
      fmt::print(stderr, "parse failed: {}\n", index.status().message());
      return 1;
    }
    indexed = index->containers.size();
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  fmt::print("pods={} containers={} document={:.1f} MiB rounds={}\n", pods, indexed,
             text.size() / 1048576.0, rounds);
  fmt::print("parse: wall best {:.1f} ms, median {:.1f} ms; CPU best {:.1f} ms, median {:.1f} ms\n",
             ms.front(), ms[ms.size() / 2], cpu_ms.front(), cpu_ms[cpu_ms.size() / 2]);
  fmt::print("peak RSS added by parsing {:.1f} MiB\n", (PeakRssKib() - rss_before) / 1024.0);
  return 0;
}
