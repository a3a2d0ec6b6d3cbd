#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit {

Result<std::string> GzipCompress(std::string_view data);
// Fails when the output would exceed `max_output_bytes` (decompression bombs stay bounded).
Result<std::string> GzipDecompress(std::string_view data, size_t max_output_bytes);

}  // namespace profkit
