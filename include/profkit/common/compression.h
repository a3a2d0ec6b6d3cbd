#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit {

// gzip at zlib's fastest level (profiles are compressed once per flush or request).
Result<std::string> GzipCompress(std::string_view data);
// Fails when the output would exceed `max_output_bytes` (decompression bombs stay bounded).
Result<std::string> GzipDecompress(std::string_view data, size_t max_output_bytes);

// How tracers compress profile files (docs/datakit-protocol.md §5 row 5): told apart by magic
// bytes, since the multipart part headers do not say.
enum class Compression { kNone, kGzip, kZstd, kLz4Frame };

// gzip 1f 8b, zstd 28 b5 2f fd, LZ4 frame 04 22 4d 18; anything else is kNone.
Compression DetectCompression(std::string_view data);
std::string_view CompressionName(Compression compression);

// Both decode every concatenated frame and fail on truncated input and when the output would
// exceed `max_output_bytes`, before allocating past it.
Result<std::string> ZstdDecompress(std::string_view data, size_t max_output_bytes);
Result<std::string> Lz4FrameDecompress(std::string_view data, size_t max_output_bytes);

// DetectCompression, then the matching decoder; uncompressed data is returned as is (an error when
// it is larger than `max_output_bytes`, so one bound covers every case).
Result<std::string> Decompress(std::string_view data, size_t max_output_bytes);

}  // namespace profkit
