// Compact, immutable address → name table of one module: a sorted vector of 16-byte entries plus
// one string arena, so tens of thousands of symbols cost about a megabyte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace profkit::symbolize {

class SymbolTable {
 public:
  class Builder {
   public:
    // A sized symbol covers [address, address + size). A zero-size one (`sized` false) is given
    // the extent up to the end of its section in `size` and is cut at the next symbol. `global`
    // breaks ties between symbols at the same address (a sized global function wins over a local
    // label). Returns false, adding nothing, when the name arena would pass 4 GiB.
    bool Add(uint64_t address, uint64_t size, std::string_view name, bool sized, bool global);
    size_t count() const { return pending_.size(); }
    SymbolTable Build() &&;

   private:
    struct Pending {
      uint64_t address;
      uint64_t size;
      uint32_t name_offset;
      uint8_t rank;  // lower wins among equal addresses
    };
    std::vector<Pending> pending_;
    std::string names_;
  };

  // Name of the symbol containing `address`, nullopt when none.
  std::optional<std::string_view> Find(uint64_t address) const;
  size_t size() const { return entries_.size(); }
  size_t MemoryBytes() const { return entries_.capacity() * sizeof(Entry) + names_.capacity(); }

 private:
  struct Entry {
    uint64_t address;
    uint32_t size;         // saturated: no function is 4 GiB
    uint32_t name_offset;  // NUL-terminated in names_
  };

  std::vector<Entry> entries_;
  std::string names_;
};

}  // namespace profkit::symbolize
