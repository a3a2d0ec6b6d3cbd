// profiling_metrics fields of one profile upload, with DataKit's names and formulas
// (docs/datakit-protocol.md §3.2 Python, §3.3 Go with the `goroutine` fix of §5 row 2) and
// profkit's own for Node.js (README "profiling_metrics"). D_ns = end − start, D_s = D_ns / 1e9.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/metrics/line_protocol.h"

namespace profkit::metrics {

// One decompressed profile part may be at most this large: real pprof files are a few MiB even
// for big Go heaps, and the bound keeps a decompression bomb from taking the agent's memory.
inline constexpr size_t kMaxDecompressedPartBytes = 64 << 20;

struct ProfileFile {
  std::string_view name;      // multipart field name, e.g. "auto" or "cpu.pprof"
  std::string_view filename;  // e.g. "auto.pprof"; may be empty
  std::string_view data;      // as uploaded (compressed or not)
};

struct ProfileInput {
  std::string language;  // DataKit's resolved language
  int64_t start_unix_nanos = 0, end_unix_nanos = 0;
  std::vector<ProfileFile> files;
};

// Whether profkit derives metrics for `language` (python, golang, nodejs). Java's come from JFR,
// which profkit does not parse (README "profiling_metrics").
bool HasMetrics(std::string_view language);

// The fields for the profile's language, in a fixed order; empty when the language has none or
// the profile holds none of the parts they come from. Errors (end not after start, a part that
// does not decompress within `max_part_bytes` or is not pprof, malformed metrics.json) mean no
// metrics for this profile.
Result<std::vector<Field>> ComputeFields(const ProfileInput& input,
                                         size_t max_part_bytes = kMaxDecompressedPartBytes);

}  // namespace profkit::metrics
