// DataKit's pprof aggregation (docs/datakit-protocol.md §3.1): per sample type, the sum of its
// values over all samples, durations converted to nanoseconds and sizes to bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit::metrics {

// By sample type name, e.g. {"cpu-time": 7990188678}.
using SampleSums = std::map<std::string, int64_t, std::less<>>;

// `unit`'s factor to nanoseconds or bytes (DataKit's quantity.ParseUnit names, binary multiples
// for sizes); 1 for counts and units it does not know, whose values are summed as they are.
int64_t UnitFactor(std::string_view unit);

// Decompresses `data` by its magic bytes (gzip, zstd, LZ4 frame or none) into at most
// `max_decompressed_bytes`, reads its sample types, values and string table (the protobuf wire
// format, checked: string indexes in range, one value per sample type in every sample) and sums.
// Errors name the reason (a decompression bomb exceeds the bound; an overflowing sum is an error,
// not a wrapped value).
Result<SampleSums> SumPprof(std::string_view data, size_t max_decompressed_bytes);

}  // namespace profkit::metrics
