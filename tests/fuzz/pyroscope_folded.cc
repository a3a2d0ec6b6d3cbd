// Pyroscope /ingest bodies in the folded ("a;b;c 12") and `lines` formats, converted to pprof
// (pyroscope::FoldedToPprof). The first byte chooses the format.
#include <cstdint>

#include "fuzz_support.h"
#include "profkit/pyroscope/convert.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  profkit::pyroscope::FoldedOptions options;
  options.lines = (data[0] & 1) != 0;
  options.metric = (data[0] & 2) != 0 ? "cpu" : "";
  options.units = (data[0] & 4) != 0 ? "objects" : "samples";
  options.sample_rate = (data[0] & 8) != 0 ? 1'000'000'000 : 100;
  options.start_unix_nanos = 1'700'000'000'000'000'000;
  options.end_unix_nanos = options.start_unix_nanos + 10'000'000'000;
  (void)profkit::pyroscope::FoldedToPprof(profkit::fuzz::AsText(data + 1, size - 1), options);
  return 0;
}
