// Record files (`profkit record --dump-records`, replayed by sampling::ReplaySource): frames of
// ring-buffer records and /proc snapshots, read back by sampling::ParseRecordFile; bug reports
// bring them from other hosts. Every record inside is decoded as the replay does.
#include <cstdint>
#include <span>

#include "fuzz_support.h"
#include "profkit/sampling/record.h"
#include "profkit/sampling/record_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto contents = profkit::sampling::ParseRecordFile(std::span<const uint8_t>(data, size));
  if (contents.ok()) {
    for (const auto& record : contents->records) (void)profkit::sampling::DecodeRecord(record);
  }
  return 0;
}
