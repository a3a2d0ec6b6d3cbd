// Lowercase hex of bytes, as build ids are written (debug file paths, pprof mappings, logs).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace profkit {

std::string HexString(std::span<const uint8_t> bytes);

}  // namespace profkit
