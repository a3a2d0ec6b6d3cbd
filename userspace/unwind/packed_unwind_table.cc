#include "profkit/unwind/packed_unwind_table.h"

#include <algorithm>

namespace profkit::unwind {
namespace {

uint32_t RuleKey(const profkit_unwind_info& info) {
  return uint32_t{info.kind} << 24 | uint32_t{static_cast<uint8_t>(info.rbp_offset)} << 16 |
         info.cfa_offset;
}

constexpr uint32_t kPageMask = PROFKIT_UNWIND_PAGE_SIZE - 1;

}  // namespace

std::optional<uint16_t> UnwindInfoSet::Intern(const profkit_unwind_info& info) {
  const uint32_t key = RuleKey(info);
  if (auto it = index_.find(key); it != index_.end()) return it->second;
  if (infos_.size() >= PROFKIT_UNWIND_MAX_INFOS) return std::nullopt;
  const auto index = static_cast<uint16_t>(infos_.size());
  infos_.push_back(info);
  index_.emplace(key, index);
  return index;
}

Result<PackedUnwindTable> PackUnwindTable(std::span<const UnwindRow> rows, UnwindInfoSet& infos,
                                          size_t max_pages) {
  PackedUnwindTable table;
  if (rows.empty()) return table;
  table.page_base = rows.front().pc >> PROFKIT_UNWIND_PAGE_SHIFT;
  // The last row (PROFKIT_UNWIND_NONE past the last FDE) has a page too, so the addresses after
  // the last function in that page find it rather than fall off the table.
  const size_t page_count = (rows.back().pc >> PROFKIT_UNWIND_PAGE_SHIFT) - table.page_base + 1;
  if (page_count > max_pages) {
    return Status::TooLargef("unwind table spans {} pages of {} bytes, more than {}", page_count,
                             PROFKIT_UNWIND_PAGE_SIZE, max_pages);
  }
  table.pages.reserve(page_count);
  table.rows.reserve(rows.size() + page_count);

  // Below the first row no rule applies: the walker falls back to the frame pointer.
  profkit_unwind_info in_force{PROFKIT_UNWIND_NONE, 0, 0};
  size_t next = 0;
  for (size_t page = 0; page < page_count; ++page) {
    const uint64_t page_number = table.page_base + page;
    const auto first_row = static_cast<uint32_t>(table.rows.size());
    // Every page's rows start at its first byte: the rule in force there is repeated.
    if (next == rows.size() || rows[next].pc != page_number << PROFKIT_UNWIND_PAGE_SHIFT) {
      const std::optional<uint16_t> index = infos.Intern(in_force);
      if (!index)
        return Status::TooLargef("more than {} distinct unwind rules", infos.infos().size());
      table.rows.push_back({0, *index});
    }
    for (; next < rows.size() && rows[next].pc >> PROFKIT_UNWIND_PAGE_SHIFT == page_number;
         ++next) {
      const std::optional<uint16_t> index = infos.Intern(rows[next].info);
      if (!index)
        return Status::TooLargef("more than {} distinct unwind rules", infos.infos().size());
      table.rows.push_back({static_cast<uint16_t>(rows[next].pc & kPageMask), *index});
      in_force = rows[next].info;
    }
    table.pages.push_back({first_row, static_cast<uint32_t>(table.rows.size()) - first_row});
  }
  return table;
}

std::optional<uint64_t> ReturnAddressOffsetFromSp(const profkit_unwind_info& info, uint64_t pc) {
  // The return address is at CFA - 8 under every rule (bpf_abi.h, enum profkit_unwind_kind).
  switch (info.kind) {
    case PROFKIT_UNWIND_CFA_RSP:
      if (info.cfa_offset == 0) return std::nullopt;
      return uint64_t{info.cfa_offset} * 8 - 8;
    case PROFKIT_UNWIND_PLT:
      return (pc & 15) >= info.cfa_offset ? 8 : 0;
    default:
      return std::nullopt;
  }
}

std::optional<uint16_t> FindPackedInfo(const PackedUnwindTable& table, uint64_t pc) {
  const uint64_t page_number = pc >> PROFKIT_UNWIND_PAGE_SHIFT;
  if (page_number < table.page_base || page_number - table.page_base >= table.pages.size()) {
    return std::nullopt;
  }
  const profkit_unwind_page& page = table.pages[page_number - table.page_base];
  const auto first = table.rows.begin() + page.first_row;
  const auto last = first + page.row_count;
  const auto low = static_cast<uint16_t>(pc & kPageMask);
  // The first row of a page is at pc_low 0, so some row is always <= low.
  auto it = std::upper_bound(first, last, low, [](uint16_t value, const profkit_unwind_row& row) {
    return value < row.pc_low;
  });
  return std::prev(it)->info;
}

}  // namespace profkit::unwind
