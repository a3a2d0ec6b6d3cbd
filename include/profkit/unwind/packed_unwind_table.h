// An unwind table in the form the BPF walker reads (bpf/native_unwinder.bpf.h): the rules shared
// by every file in one array (UnwindInfoSet), each file's rows cut into 4 KiB pages of 4-byte rows
// {pc_low, info}. A row costs 4 bytes instead of 8, and a lookup searches one page's rows (at most
// 13 steps) instead of the whole file's (16 for libc). Pure: no BPF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "profkit/bpf_abi.h"
#include "profkit/common/status.h"
#include "profkit/unwind/unwind_table.h"

namespace profkit::unwind {

// The rules of every loaded table, each stored once; indices never change, so rows written
// earlier stay valid. Bounded by PROFKIT_UNWIND_MAX_INFOS (the BPF array's size).
class UnwindInfoSet {
 public:
  // The rule's index, added if new; nullopt when the set is full.
  std::optional<uint16_t> Intern(const profkit_unwind_info& info);
  const std::vector<profkit_unwind_info>& infos() const { return infos_; }

 private:
  std::vector<profkit_unwind_info> infos_;
  std::unordered_map<uint32_t, uint16_t> index_;  // packed rule -> index
};

struct PackedUnwindTable {
  // The file's first page: (lowest row pc) >> PROFKIT_UNWIND_PAGE_SHIFT.
  uint32_t page_base = 0;
  // Pages page_base, page_base + 1, ...; their first_row counts from rows[0].
  std::vector<profkit_unwind_page> pages;
  std::vector<profkit_unwind_row> rows;
};

// Packs `rows` (a file's table, UnwindTable::rows) interning its rules in `infos`. kTooLarge past
// `max_pages` pages of address space or when `infos` is full.
Result<PackedUnwindTable> PackUnwindTable(std::span<const UnwindRow> rows, UnwindInfoSet& infos,
                                          size_t max_pages);

// The rule covering file address `pc`, found the way the BPF walker finds it; nullopt outside the
// table's pages. The index is into UnwindInfoSet::infos().
std::optional<uint16_t> FindPackedInfo(const PackedUnwindTable& table, uint64_t pc);

// For the innermost frame, interrupted at file address `pc` under rule `info`: the byte offset
// from RSP at which the return address into its caller is stored when the frame is addressed from
// RSP (a frameless function, a prologue, a PLT stub), as the walker computes it; nullopt when the
// frame pointer is established (the frame-pointer walk is right) or the rule has no caller to
// give (no CFI, the outermost frame, a signal frame, an unsupported rule).
std::optional<uint64_t> ReturnAddressOffsetFromSp(const profkit_unwind_info& info, uint64_t pc);

}  // namespace profkit::unwind
