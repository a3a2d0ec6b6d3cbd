// Records from the BPF ring buffer (sampling::DecodeRecord): the kernel side is profkit's own, but
// the decoder is the only check between a record's lengths and userspace's vectors, and record
// files (--dump-records) replay the same bytes from disk.
#include <cstdint>
#include <span>

#include "fuzz_support.h"
#include "profkit/sampling/record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)profkit::sampling::DecodeRecord(std::span<const uint8_t>(data, size));
  return 0;
}
