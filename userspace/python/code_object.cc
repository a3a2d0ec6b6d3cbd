#include "profkit/python/code_object.h"

#include <algorithm>
#include <cstring>

#include "profkit/bpf_abi.h"

namespace profkit::python {
namespace {

// PyASCIIObject.state bit field (all supported versions): interned:2, kind:3, compact:1, ascii:1.
constexpr uint32_t kStateKindShift = 2;
constexpr uint32_t kStateKindMask = 7;
constexpr uint32_t kStateCompact = 1u << 5;
constexpr uint32_t kStateAscii = 1u << 6;
// Room for the largest struct field group read at once.
constexpr size_t kMaxCodeObjectBytes = 1024;

template <typename T>
Result<T> Field(const std::vector<uint8_t>& bytes, uint32_t offset, const char* name) {
  if (offset == kNoOffset || offset > bytes.size() || bytes.size() - offset < sizeof(T)) {
    return Status::InvalidInputf("field {} at {} is outside the {}-byte struct", name, offset,
                                 bytes.size());
  }
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

Result<std::vector<uint8_t>> ReadBytes(const MemoryReader& memory, uint64_t address, size_t size) {
  std::vector<uint8_t> bytes(size);
  PROFKIT_RETURN_IF_ERROR(memory.Read(address, bytes));
  return bytes;
}

void AppendUtf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3f)));
  }
}

// A bytes object's contents (line tables), bounded by `max_bytes`.
Result<std::vector<uint8_t>> ReadBytesObject(const MemoryReader& memory, const CPythonOffsets& o,
                                             uint64_t address, size_t max_bytes) {
  int64_t size = 0;
  PROFKIT_RETURN_IF_ERROR(
      memory.Read(address + o.bytes.ob_size, {reinterpret_cast<uint8_t*>(&size), sizeof(size)}));
  if (size < 0 || static_cast<uint64_t>(size) > max_bytes) {
    return Status::TooLargef("bytes object of {} bytes (limit {})", size, max_bytes);
  }
  return ReadBytes(memory, address + o.bytes.ob_sval, static_cast<size_t>(size));
}

}  // namespace

Result<std::string> ReadString(const MemoryReader& memory, const CPythonOffsets& o,
                               uint64_t address, size_t max_bytes) {
  if (address == 0) return Status::InvalidInput("null str pointer");
  // length and state in one read: each read is a system call.
  const uint32_t first = std::min(o.unicode.length, o.unicode.state);
  const uint32_t end = std::max(o.unicode.length + 8, o.unicode.state + 4);
  PROFKIT_ASSIGN_OR_RETURN(std::vector<uint8_t> fields,
                           ReadBytes(memory, address + first, end - first));
  struct {
    int64_t length;
    uint32_t state;
  } header{};
  std::memcpy(&header.length, fields.data() + (o.unicode.length - first), sizeof(header.length));
  std::memcpy(&header.state, fields.data() + (o.unicode.state - first), sizeof(header.state));
  const uint32_t kind = (header.state >> kStateKindShift) & kStateKindMask;
  if (!(header.state & kStateCompact) || (kind != 1 && kind != 2 && kind != 4)) {
    return Status::InvalidInputf("str at {:#x} is not a compact string (state {:#x})", address,
                                 header.state);
  }
  if (header.length < 0)
    return Status::InvalidInputf("str at {:#x} has length {}", address, header.length);
  const bool ascii = header.state & kStateAscii;
  // Code points to read: enough for max_bytes of output even when every one is ASCII.
  const size_t count = std::min<uint64_t>(static_cast<uint64_t>(header.length), max_bytes);
  const uint64_t data = address + (ascii ? o.unicode.ascii_data : o.unicode.compact_data);
  PROFKIT_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ReadBytes(memory, data, count * kind));
  std::string out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    uint32_t code_point = 0;
    std::memcpy(&code_point, raw.data() + i * kind, kind);
    if (code_point > 0x10ffff || (ascii && code_point > 0x7f)) {
      return Status::InvalidInputf("str at {:#x} holds an invalid code point {:#x}", address,
                                   code_point);
    }
    // Lone surrogates (file names with undecodable bytes) have no UTF-8 form; pprof strings must
    // be valid UTF-8.
    if (code_point >= 0xd800 && code_point <= 0xdfff) code_point = 0xfffd;
    std::string encoded;
    AppendUtf8(encoded, code_point);
    if (out.size() + encoded.size() > max_bytes) break;
    out += encoded;
  }
  return out;
}

Result<CodeObject> ReadCodeObject(const MemoryReader& memory, const CPythonOffsets& o,
                                  uint64_t address) {
  if (o.code_object.size == kNoOffset || o.code_object.size > kMaxCodeObjectBytes) {
    return Status::InvalidInputf("code object size {} is not usable", o.code_object.size);
  }
  PROFKIT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                           ReadBytes(memory, address, o.code_object.size));
  const auto& c = o.code_object;
  PROFKIT_ASSIGN_OR_RETURN(uint32_t argcount, Field<uint32_t>(bytes, c.argcount, "co_argcount"));
  PROFKIT_ASSIGN_OR_RETURN(uint32_t kwonly,
                           Field<uint32_t>(bytes, c.kwonlyargcount, "co_kwonlyargcount"));
  PROFKIT_ASSIGN_OR_RETURN(uint32_t flags, Field<uint32_t>(bytes, c.flags, "co_flags"));
  PROFKIT_ASSIGN_OR_RETURN(int32_t first_line,
                           Field<int32_t>(bytes, c.firstlineno, "co_firstlineno"));
  const uint32_t name_offset = c.qualname != kNoOffset ? c.qualname : c.name;
  PROFKIT_ASSIGN_OR_RETURN(uint64_t name,
                           Field<uint64_t>(bytes, name_offset, "co_qualname/co_name"));
  PROFKIT_ASSIGN_OR_RETURN(uint64_t filename, Field<uint64_t>(bytes, c.filename, "co_filename"));
  const uint32_t table_offset = c.linetable != kNoOffset ? c.linetable : c.lnotab;
  PROFKIT_ASSIGN_OR_RETURN(uint64_t table,
                           Field<uint64_t>(bytes, table_offset, "co_linetable/co_lnotab"));

  CodeObject code;
  code.first_line = first_line;
  code.checksum =
      profkit_python_code_checksum(argcount, kwonly, flags, static_cast<uint32_t>(first_line));
  PROFKIT_ASSIGN_OR_RETURN(code.name,
                           ReadString(memory, o, name, kMaxNameBytes).WithContext("co_name"));
  PROFKIT_ASSIGN_OR_RETURN(
      code.filename, ReadString(memory, o, filename, kMaxFilenameBytes).WithContext("co_filename"));
  PROFKIT_ASSIGN_OR_RETURN(
      code.line_table,
      ReadBytesObject(memory, o, table, kMaxCodeLineTableBytes).WithContext("line table"));
  return code;
}

int32_t CodeObject::LineOf(LineTableFormat format, int64_t instruction) const {
  Result<std::optional<int32_t>> line = LineForInstruction(
      LineTable{.format = format, .first_line = first_line, .bytes = line_table}, instruction);
  return line.ok() && line->has_value() ? **line : first_line;
}

}  // namespace profkit::python
