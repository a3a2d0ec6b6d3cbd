// /proc/<pid>/cgroup (process::ParseCgroupFile): container id, runtime, pod uid and QoS class from
// whatever cgroup paths the host's runtime (or a process with cgroup rights) wrote.
#include <cstdint>

#include "fuzz_support.h"
#include "profkit/process/cgroup.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > profkit::process::kMaxCgroupFileBytes) return 0;  // the reader stops there
  (void)profkit::process::ParseCgroupFile(profkit::fuzz::AsText(data, size));
  return 0;
}
