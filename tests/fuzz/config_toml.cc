// The TOML config loader (config::ParseConfig): toml++ parsing, then every key's type, range and
// address check. An operator's file is trusted more than a socket, but a typo must be an error
// naming the key, never a crash.
#include <cstdint>

#include "fuzz_support.h"
#include "profkit/config/config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > profkit::config::kMaxConfigFileBytes) return 0;  // LoadConfigFile refuses these
  (void)profkit::config::ParseConfig(profkit::fuzz::AsText(data, size), "fuzz.toml");
  return 0;
}
