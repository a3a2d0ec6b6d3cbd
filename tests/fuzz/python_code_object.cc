// Code objects and strings read from a profiled Python process (python::ReadCodeObject): every
// pointer, length and kind in them is the process's to corrupt. The input is the remote address
// space (mapped at address 0; a read outside it fails as process_vm_readv would), after one byte
// choosing the CPython version whose built-in offsets are used. The code object is at 0.
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "fuzz_support.h"
#include "profkit/python/code_object.h"
#include "profkit/python/offsets.h"

namespace {

class FuzzMemory final : public profkit::python::MemoryReader {
 public:
  explicit FuzzMemory(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  profkit::Status Read(uint64_t address, std::span<uint8_t> out) const override {
    if (out.empty()) return profkit::Status::Ok();  // process_vm_readv reads nothing, too
    if (address > bytes_.size() || bytes_.size() - address < out.size()) {
      return profkit::Status::NotFoundf("no memory at {:#x}", address);
    }
    std::memcpy(out.data(), bytes_.data() + address, out.size());
    return profkit::Status::Ok();
  }

 private:
  std::span<const uint8_t> bytes_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // 3.8 to 3.12 have built-in offsets; 3.13+ publish _Py_DebugOffsets (python_debug_offsets).
  const int minor = 8 + data[0] % 5;
  const std::optional<profkit::python::CPythonOffsets> offsets =
      profkit::python::BuiltinOffsets(3, minor);
  if (!offsets) return 0;
  const FuzzMemory memory({data + 1, size - 1});
  auto code = profkit::python::ReadCodeObject(memory, *offsets, 0);
  if (code.ok()) {
    auto format = profkit::python::LineTableFormatForVersion(3, minor);
    if (format.ok()) (void)code->LineOf(*format, 7);
  }
  return 0;
}
