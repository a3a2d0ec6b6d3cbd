// Source lines and inline chains of one file's DWARF, through libdw.
#pragma once

#include <elfutils/libdw.h>
#include <libelf.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::symbolize {

struct ElfReadLimits;

// What libdw will put on the heap when `elf`'s Dwarf is opened: it decompresses every compressed
// debug section then (Debian's -dbg packages compress theirs: libc's 3.6 MiB on disk are 9.5 MiB
// on the heap). Uncompressed sections are read through the file's mapping.
size_t DecompressedDebugBytes(Elf* elf);

class DwarfFrames {
 public:
  // Takes ownership of `elf` (ended after the Dwarf built on it). Indexes at most
  // limits.max_dwarf_units compile units (counted in limits.dwarf_unit_limit_hits when cut).
  // `decompressed_bytes`: DecompressedDebugBytes(elf), counted in limits.dwarf_bytes.
  static Result<std::unique_ptr<DwarfFrames>> Open(Elf* elf, const ElfReadLimits& limits,
                                                   size_t decompressed_bytes);
  ~DwarfFrames();
  DwarfFrames(const DwarfFrames&) = delete;
  DwarfFrames& operator=(const DwarfFrames&) = delete;

  // Frames for the ELF virtual address `address`, innermost first: one per inlined call plus the
  // containing function. Empty when no compile unit or function covers it. `function` is the
  // demangled linkage name (else DW_AT_name), `system_name` the raw one; both are empty for a
  // containing function without a linkage name, to be named from the ELF symbol. Without
  // `may_index_unit`, a unit not looked up before is not read (its line table and index would grow
  // the heap): nullopt then.
  std::optional<std::vector<SymbolizedLine>> Lookup(uint64_t address, bool may_index_unit = true);

  // The file's .debug_frame, owned by the Dwarf; nullptr when it has none.
  Dwarf_CFI* debug_frame() { return dwarf_getcfi(dwarf_); }

  // An estimate of the heap this DWARF holds, growing with the units looked up: the decompressed
  // debug sections, libdw's line tables and this class's indexes. Also summed in the limits'
  // dwarf_bytes while the object lives.
  size_t memory_bytes() const { return memory_bytes_; }

 private:
  struct CuRange {
    uint64_t start;
    uint64_t end;
    Dwarf_Die cu;
  };
  static constexpr uint64_t kNoCallFile = UINT64_MAX;
  // A function or inlined call in a unit. Names point into the Dwarf's string data.
  struct Scope {
    const char* system_name;  // the linkage name, else DW_AT_name
    bool has_linkage_name;
    int64_t start_line;
    int64_t call_line;   // inlined calls: where the parent calls it
    uint64_t call_file;  // index in the unit's file table; kNoCallFile for functions
    int32_t parent;      // index of the enclosing scope, -1 for functions
  };
  // libdw's own scope lookups (dwarf_getscopes, dwarf_getscopes_die) walk the unit's whole DIE
  // tree on every call: milliseconds per address in large C++ units. One walk per unit builds
  // this instead, and lookups become a binary search.
  struct UnitIndex {
    std::vector<Scope> scopes;
    // Where the innermost scope changes: from `start` up to the next boundary it is `scope`
    // (-1: none).
    struct Boundary {
      uint64_t start;
      int32_t scope;
    };
    std::vector<Boundary> innermost;
  };

  DwarfFrames(Elf* elf, Dwarf* dwarf, const ElfReadLimits& limits)
      : elf_(elf), dwarf_(dwarf), limits_(limits) {}
  void Account(size_t bytes);
  // Indexes compile units by their address ranges (DW_AT_low_pc/high_pc/ranges), so lookups
  // work whether or not the producer wrote .debug_aranges (clang does not by default). Returns
  // the number of units walked.
  size_t IndexUnits(const ElfReadLimits& limits);
  const Dwarf_Die* FindUnit(uint64_t address) const;
  const UnitIndex& IndexOf(Dwarf_Die* cu);

  Elf* elf_;
  Dwarf* dwarf_;
  const ElfReadLimits& limits_;
  size_t memory_bytes_ = 0;
  std::vector<CuRange> ranges_;                     // sorted by start
  std::unordered_map<Dwarf_Off, UnitIndex> units_;  // by unit DIE offset, built on first lookup
};

}  // namespace profkit::symbolize
