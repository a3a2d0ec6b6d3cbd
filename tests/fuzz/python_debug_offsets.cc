// _Py_DebugOffsets as read from a CPython 3.13+ binary (python::ParseDebugOffsets: the cookie,
// version and every offset's bounds), and the version decoders used on the same untrusted files.
#include <cstdint>
#include <cstring>
#include <span>

#include "fuzz_support.h"
#include "profkit/python/offsets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  (void)profkit::python::ParseDebugOffsets(bytes);
  (void)profkit::python::ParsePyVersionBytes(bytes);
  (void)profkit::python::ParsePyVersionString(profkit::fuzz::AsText(data, size));
  (void)profkit::python::ParsePythonFileName(profkit::fuzz::AsText(data, size));
  if (size >= 4) {
    uint32_t hex;
    std::memcpy(&hex, data, sizeof(hex));
    (void)profkit::python::ParsePyVersionHex(hex);
  }
  return 0;
}
