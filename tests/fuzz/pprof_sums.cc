// Profiles sent to profkit (pushed attachments, Pyroscope pprof, `profkit convert` input): the
// pprof parser (gzip or raw) and the per-sample-type sums profiling_metrics are built from.
#include <cstdint>

#include "fuzz_support.h"
#include "profkit/metrics/pprof_sums.h"
#include "profkit/profile/pprof_builder.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto text = profkit::fuzz::AsText(data, size);
  // 64 MiB: a decompression bomb must stop at the bound, not at the fuzzer's RSS limit.
  constexpr size_t kMaxDecompressed = 64 << 20;
  (void)profkit::metrics::SumPprof(text, kMaxDecompressed);
  (void)profkit::profile::ParsePprof(text, kMaxDecompressed);
  return 0;
}
