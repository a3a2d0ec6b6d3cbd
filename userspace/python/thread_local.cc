#include "profkit/python/thread_local.h"

#include <cstring>
#include <initializer_list>

namespace profkit::python {
namespace {

// A bounded cursor over the accessor's bytes.
class Code {
 public:
  Code(std::span<const uint8_t> bytes, uint64_t address) : bytes_(bytes), address_(address) {}

  // Consumes `pattern` when the next bytes are exactly it.
  bool Take(std::initializer_list<uint8_t> pattern) {
    if (bytes_.size() - position_ < pattern.size()) return false;
    if (std::memcmp(bytes_.data() + position_, pattern.begin(), pattern.size()) != 0) return false;
    position_ += pattern.size();
    return true;
  }

  bool TakeI32(int32_t& value) {
    if (bytes_.size() - position_ < sizeof(value)) return false;
    std::memcpy(&value, bytes_.data() + position_, sizeof(value));
    position_ += sizeof(value);
    return true;
  }

  bool TakeI8(int8_t& value) {
    if (position_ >= bytes_.size()) return false;
    value = static_cast<int8_t>(bytes_[position_++]);
    return true;
  }

  // Address of the next instruction: the base of %rip-relative operands.
  uint64_t next_address() const { return address_ + position_; }
  size_t position() const { return position_; }

 private:
  std::span<const uint8_t> bytes_;
  uint64_t address_;
  size_t position_ = 0;
};

Status Mismatch(const Code& code, const char* expected) {
  return Status::Unsupportedf("PyGILState_GetThisThreadState: byte {}: expected {}",
                              code.position(), expected);
}

void SkipPrologue(Code& code) {
  code.Take({0xf3, 0x0f, 0x1e, 0xfa});  // endbr64
  if (code.Take({0x55})) {              // push %rbp
    code.Take({0x48, 0x89, 0xe5});      // mov %rsp,%rbp
  }
}

Status ExpectReturn(Code& code) {
  code.Take({0x5d});  // pop %rbp
  if (!code.Take({0xc3})) return Mismatch(code, "ret");
  return Status::Ok();
}

// mov DISP(%rax),%rax with an 8-bit, 32-bit or no displacement.
bool TakeLoadFromRax(Code& code, int64_t& displacement) {
  int32_t wide = 0;
  int8_t narrow = 0;
  if (code.Take({0x48, 0x8b, 0x80}) && code.TakeI32(wide)) {
    displacement = wide;
    return true;
  }
  if (code.Take({0x48, 0x8b, 0x40}) && code.TakeI8(narrow)) {
    displacement = narrow;
    return true;
  }
  if (code.Take({0x48, 0x8b, 0x00})) {
    displacement = 0;
    return true;
  }
  return false;
}

}  // namespace

Result<ThreadLocalLocation> DecodeThreadLocalAccessor(std::span<const uint8_t> bytes,
                                                      uint64_t function_address) {
  Code code(bytes, function_address);
  SkipPrologue(code);
  ThreadLocalLocation location;
  int32_t displacement = 0;
  // mov %fs:DISP32,%rax (fs segment prefix, REX.W, mov r64 r/m64 with a SIB absolute address).
  if (code.Take({0x64, 0x48, 0x8b, 0x04, 0x25})) {
    if (!code.TakeI32(displacement)) return Mismatch(code, "a 32-bit %fs displacement");
    PROFKIT_RETURN_IF_ERROR(ExpectReturn(code));
    location.model = ThreadLocalLocation::Model::kStaticTls;
    location.offset = displacement;
    return location;
  }
  code.Take({0x66});  // data16 padding of the general-dynamic sequence
  if (!code.Take({0x48, 0x8d, 0x3d}) || !code.TakeI32(displacement)) {
    return Mismatch(code, "mov %fs:DISP,%rax or lea GOT(%rip),%rdi");
  }
  location.model = ThreadLocalLocation::Model::kDynamicTls;
  location.tls_index_address = code.next_address() + static_cast<int64_t>(displacement);
  code.Take({0x66, 0x66, 0x48});  // padding of the general-dynamic call
  int32_t target = 0;
  const bool call = (code.Take({0xe8}) || code.Take({0xff, 0x15})) && code.TakeI32(target);
  if (!call) return Mismatch(code, "call __tls_get_addr");
  code.Take({0x5d});  // pop %rbp, scheduled before the load
  if (!TakeLoadFromRax(code, location.offset)) return Mismatch(code, "mov DISP(%rax),%rax");
  PROFKIT_RETURN_IF_ERROR(ExpectReturn(code));
  return location;
}

}  // namespace profkit::python
