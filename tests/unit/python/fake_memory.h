// Fake target memory for the CPython decoders, and builders of synthetic CPython objects laid out
// with a version's real offsets (so the tests exercise exactly the offsets the agent uses).
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <span>
#include <string_view>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/python/offsets.h"
#include "profkit/python/process_memory.h"

namespace profkit::python::testing {

// Disjoint regions of bytes keyed by their start address; a read must lie inside one region.
class FakeMemory final : public MemoryReader {
 public:
  // Maps `bytes` at `address`, replacing any region starting there.
  void Map(uint64_t address, std::vector<uint8_t> bytes) { regions_[address] = std::move(bytes); }
  void Unmap(uint64_t address) { regions_.erase(address); }

  Status Read(uint64_t address, std::span<uint8_t> out) const override {
    ++reads_;
    auto it = regions_.upper_bound(address);
    if (it != regions_.begin()) {
      --it;
      const uint64_t offset = address - it->first;
      if (offset <= it->second.size() && it->second.size() - offset >= out.size()) {
        if (!out.empty()) std::memcpy(out.data(), it->second.data() + offset, out.size());
        return Status::Ok();
      }
    }
    return Status::InvalidInputf("fake memory: {} bytes at {:#x} are not mapped", out.size(),
                                 address);
  }

  uint64_t reads() const { return reads_; }

 private:
  std::map<uint64_t, std::vector<uint8_t>> regions_;
  mutable uint64_t reads_ = 0;
};

// Lends a FakeMemory to an owner of a MemoryReader (CodeObjectCache) while the test keeps
// changing it.
class BorrowedMemory final : public MemoryReader {
 public:
  explicit BorrowedMemory(const FakeMemory& memory) : memory_(memory) {}
  Status Read(uint64_t address, std::span<uint8_t> out) const override {
    return memory_.Read(address, out);
  }

 private:
  const FakeMemory& memory_;
};

template <typename T>
void Put(std::vector<uint8_t>& bytes, uint32_t offset, T value) {
  if (bytes.size() < offset + sizeof(T)) bytes.resize(offset + sizeof(T));
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

// PyASCIIObject.state: interned:2, kind:3, compact:1, ascii:1.
constexpr uint32_t StrState(uint32_t kind, bool compact, bool ascii) {
  return (kind << 2) | (compact ? 1u << 5 : 0u) | (ascii ? 1u << 6 : 0u);
}

// A str object with an explicit header, data at the compact or ASCII data offset.
inline std::vector<uint8_t> RawStr(const CPythonOffsets& o, int64_t length, uint32_t state,
                                   std::span<const uint8_t> data, bool ascii_layout) {
  std::vector<uint8_t> bytes(ascii_layout ? o.unicode.ascii_data : o.unicode.compact_data, 0);
  Put<int64_t>(bytes, o.unicode.length, length);
  Put<uint32_t>(bytes, o.unicode.state, state);
  bytes.insert(bytes.end(), data.begin(), data.end());
  bytes.push_back(0);  // CPython keeps a NUL after the data; the decoder must not need it
  return bytes;
}

inline std::vector<uint8_t> AsciiStr(const CPythonOffsets& o, std::string_view text) {
  return RawStr(o, static_cast<int64_t>(text.size()), StrState(1, true, true),
                {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, true);
}

// A compact non-ASCII str of `kind` bytes per code point (1 latin-1, 2 UCS-2, 4 UCS-4).
inline std::vector<uint8_t> CompactStr(const CPythonOffsets& o, uint32_t kind,
                                       const std::vector<uint32_t>& code_points) {
  std::vector<uint8_t> data(code_points.size() * kind);
  for (size_t i = 0; i < code_points.size(); ++i) {
    std::memcpy(data.data() + i * kind, &code_points[i], kind);  // little-endian low bytes
  }
  return RawStr(o, static_cast<int64_t>(code_points.size()), StrState(kind, true, false), data,
                false);
}

inline std::vector<uint8_t> BytesObject(const CPythonOffsets& o, std::span<const uint8_t> data,
                                        int64_t declared_size) {
  std::vector<uint8_t> bytes(o.bytes.ob_sval, 0);
  Put<int64_t>(bytes, o.bytes.ob_size, declared_size);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

inline std::vector<uint8_t> BytesObject(const CPythonOffsets& o, std::span<const uint8_t> data) {
  return BytesObject(o, data, static_cast<int64_t>(data.size()));
}

struct CodeFields {
  uint32_t argcount = 0;
  uint32_t kwonlyargcount = 0;
  uint32_t flags = 0;
  int32_t firstlineno = 0;
  uint64_t name = 0;
  uint64_t qualname = 0;  // ignored before 3.11
  uint64_t filename = 0;
  uint64_t line_table = 0;  // co_linetable (3.10+) or co_lnotab
};

inline std::vector<uint8_t> CodeObjectBytes(const CPythonOffsets& o, const CodeFields& f) {
  const auto& c = o.code_object;
  std::vector<uint8_t> bytes(c.size, 0xa5);  // garbage between the fields
  Put<uint32_t>(bytes, c.argcount, f.argcount);
  Put<uint32_t>(bytes, c.kwonlyargcount, f.kwonlyargcount);
  Put<uint32_t>(bytes, c.flags, f.flags);
  Put<int32_t>(bytes, c.firstlineno, f.firstlineno);
  Put<uint64_t>(bytes, c.name, f.name);
  if (c.qualname != kNoOffset) Put<uint64_t>(bytes, c.qualname, f.qualname);
  Put<uint64_t>(bytes, c.filename, f.filename);
  Put<uint64_t>(bytes, c.linetable != kNoOffset ? c.linetable : c.lnotab, f.line_table);
  return bytes;
}

}  // namespace profkit::python::testing
