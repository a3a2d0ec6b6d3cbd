// What every fuzz target shares: quiet logs (a decoder's warnings on every input would drown the
// fuzzer's own output and cost most of its time) and the input as a string_view.
#pragma once

#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace profkit::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Call from LLVMFuzzerInitialize.
inline void QuietLogs() { spdlog::set_level(spdlog::level::off); }

}  // namespace profkit::fuzz
