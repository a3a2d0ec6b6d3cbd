// The kubelet's pod list (GET /pods, kubernetes::ParsePodList): names, labels, annotations and
// container statuses are written by whoever may create pods on the node.
#include <cstdint>

#include "fuzz_support.h"
#include "profkit/kubernetes/pod_list.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const profkit::kubernetes::NodeContext node{.node_name = "", .cluster_name = "fuzz"};
  (void)profkit::kubernetes::ParsePodList(profkit::fuzz::AsText(data, size), node);
  return 0;
}
