// Source lines and inline chains of one file's DWARF, through libdw.
#pragma once

#include <elfutils/libdw.h>
#include <libelf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::symbolize {

class DwarfFrames {
 public:
  // Takes ownership of `elf` (ended after the Dwarf built on it).
  static Result<std::unique_ptr<DwarfFrames>> Open(Elf* elf);
  ~DwarfFrames();
  DwarfFrames(const DwarfFrames&) = delete;
  DwarfFrames& operator=(const DwarfFrames&) = delete;

  // Frames for the ELF virtual address `address`, innermost first: one per inlined call plus the
  // containing function. Empty when no compile unit or function covers it. `function` is the
  // demangled linkage name (else DW_AT_name), `system_name` the raw one.
  std::vector<SymbolizedLine> Lookup(uint64_t address);

  // The file's .debug_frame, owned by the Dwarf; nullptr when it has none.
  Dwarf_CFI* debug_frame() { return dwarf_getcfi(dwarf_); }

 private:
  struct CuRange {
    uint64_t start;
    uint64_t end;
    Dwarf_Die cu;
  };

  DwarfFrames(Elf* elf, Dwarf* dwarf) : elf_(elf), dwarf_(dwarf) {}
  // Indexes compile units by their address ranges (DW_AT_low_pc/high_pc/ranges), so lookups
  // work whether or not the producer wrote .debug_aranges (clang does not by default).
  void IndexUnits();
  const Dwarf_Die* FindUnit(uint64_t address) const;

  Elf* elf_;
  Dwarf* dwarf_;
  std::vector<CuRange> ranges_;  // sorted by start
};

}  // namespace profkit::symbolize
