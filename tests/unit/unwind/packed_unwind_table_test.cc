// The packed form the BPF walker reads: pages of 4-byte rows naming shared rules.
#include "profkit/unwind/packed_unwind_table.h"

#include <gtest/gtest.h>

#include <vector>

#include "profkit/unwind/range_allocator.h"

namespace profkit::unwind {
namespace {

constexpr profkit_unwind_info kRsp8{PROFKIT_UNWIND_CFA_RSP, 0, 1};
constexpr profkit_unwind_info kRsp16{PROFKIT_UNWIND_CFA_RSP, 0, 2};
constexpr profkit_unwind_info kRbp{PROFKIT_UNWIND_CFA_RBP, -2, 2};
constexpr profkit_unwind_info kNone{PROFKIT_UNWIND_NONE, 0, 0};

std::optional<profkit_unwind_info> RuleAt(const PackedUnwindTable& table,
                                          const UnwindInfoSet& infos, uint64_t pc) {
  const std::optional<uint16_t> index = FindPackedInfo(table, pc);
  if (!index) return std::nullopt;
  return infos.infos().at(*index);
}

TEST(PackedUnwindTableTest, EveryPageStartsWithTheRuleInForce) {
  // One function from 0x1ff0 to 0x3010: its frame rule spans the pages 0x2000 and 0x3000, which
  // hold no row of their own at their first byte.
  const std::vector<UnwindRow> rows = {
      {0x1ff0, kRsp8}, {0x1ff4, kRbp}, {0x3008, kRsp8}, {0x3010, kNone}};
  UnwindInfoSet infos;
  Result<PackedUnwindTable> table = PackUnwindTable(rows, infos, 16);
  ASSERT_TRUE(table.ok()) << table.status().message();
  EXPECT_EQ(table->page_base, 1u);
  ASSERT_EQ(table->pages.size(), 3u);
  EXPECT_EQ(infos.infos().size(), 3u) << "kRsp8 and kNone are stored once";

  EXPECT_EQ(RuleAt(*table, infos, 0x1000)->kind, PROFKIT_UNWIND_NONE) << "below the first row";
  EXPECT_TRUE(SameRule(*RuleAt(*table, infos, 0x1ff0), kRsp8));
  EXPECT_TRUE(SameRule(*RuleAt(*table, infos, 0x1ff4), kRbp));
  EXPECT_TRUE(SameRule(*RuleAt(*table, infos, 0x2000), kRbp));
  EXPECT_TRUE(SameRule(*RuleAt(*table, infos, 0x2fff), kRbp));
  EXPECT_TRUE(SameRule(*RuleAt(*table, infos, 0x3007), kRbp));
  EXPECT_TRUE(SameRule(*RuleAt(*table, infos, 0x3008), kRsp8));
  EXPECT_TRUE(SameRule(*RuleAt(*table, infos, 0x3010), kNone));
  EXPECT_TRUE(SameRule(*RuleAt(*table, infos, 0x3fff), kNone));
  EXPECT_FALSE(RuleAt(*table, infos, 0x0fff)) << "before the first page";
  EXPECT_FALSE(RuleAt(*table, infos, 0x4000)) << "after the last page";

  // Every page's rows begin at pc_low 0 and stay sorted.
  for (const profkit_unwind_page& page : table->pages) {
    ASSERT_GT(page.row_count, 0u);
    EXPECT_EQ(table->rows[page.first_row].pc_low, 0u);
    for (uint32_t i = 1; i < page.row_count; ++i) {
      EXPECT_LT(table->rows[page.first_row + i - 1].pc_low, table->rows[page.first_row + i].pc_low);
    }
  }
}

TEST(PackedUnwindTableTest, RulesAreSharedAcrossTables) {
  UnwindInfoSet infos;
  const std::vector<UnwindRow> a = {{0x1000, kRsp8}, {0x1010, kRsp16}, {0x1020, kNone}};
  const std::vector<UnwindRow> b = {{0x5000, kRsp16}, {0x5004, kRsp8}, {0x5008, kNone}};
  ASSERT_TRUE(PackUnwindTable(a, infos, 16).ok());
  const size_t after_first = infos.infos().size();
  Result<PackedUnwindTable> second = PackUnwindTable(b, infos, 16);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(infos.infos().size(), after_first) << "b uses only rules a brought";
  EXPECT_TRUE(SameRule(*RuleAt(*second, infos, 0x5006), kRsp8));
}

TEST(PackedUnwindTableTest, BoundsPagesAndRules) {
  // Two rows 4 GiB of pages apart (a hostile FDE range) need a page per 4 KiB between them.
  const std::vector<UnwindRow> sparse = {{0x1000, kRsp8}, {0xfffff000, kNone}};
  UnwindInfoSet infos;
  Result<PackedUnwindTable> table = PackUnwindTable(sparse, infos, 1024);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), StatusCode::kTooLarge);

  // Every distinct rule takes an entry of the 16-bit index space; past it, tables are refused.
  UnwindInfoSet full;
  for (uint32_t i = 0; i < PROFKIT_UNWIND_MAX_INFOS; ++i) {
    ASSERT_TRUE(full.Intern(
        {PROFKIT_UNWIND_CFA_RSP, static_cast<int8_t>(-(i >> 16)), static_cast<uint16_t>(i)}));
  }
  EXPECT_FALSE(full.Intern({PROFKIT_UNWIND_CFA_RBP, -1, 7}));
  const std::vector<UnwindRow> rows = {{0x1000, {PROFKIT_UNWIND_CFA_RBP, -1, 7}}, {0x1010, kNone}};
  EXPECT_EQ(PackUnwindTable(rows, full, 16).status().code(), StatusCode::kTooLarge);
}

// What the frameless-leaf recovery reads from a rule: where the return address is, from RSP.
TEST(PackedUnwindTableTest, ReturnAddressOffsetFromSpFollowsTheWalker) {
  EXPECT_EQ(ReturnAddressOffsetFromSp(kRsp8, 0x1000), 0u);  // at a function's first instruction
  EXPECT_EQ(ReturnAddressOffsetFromSp(kRsp16, 0x1000), 8u);
  EXPECT_EQ(ReturnAddressOffsetFromSp(kRbp, 0x1000), std::nullopt)
      << "the frame-pointer walk is right";
  EXPECT_EQ(ReturnAddressOffsetFromSp(kNone, 0x1000), std::nullopt);
  // A PLT slot (GCC/binutils' expression): RSP + 8 more once the slot's push ran.
  constexpr profkit_unwind_info kPlt{PROFKIT_UNWIND_PLT, 0, 11};
  EXPECT_EQ(ReturnAddressOffsetFromSp(kPlt, 0x1020), 0u);
  EXPECT_EQ(ReturnAddressOffsetFromSp(kPlt, 0x102a), 0u);
  EXPECT_EQ(ReturnAddressOffsetFromSp(kPlt, 0x102b), 8u);
  for (const uint8_t kind :
       {PROFKIT_UNWIND_SIGNAL, PROFKIT_UNWIND_END, PROFKIT_UNWIND_UNSUPPORTED}) {
    EXPECT_EQ(ReturnAddressOffsetFromSp(profkit_unwind_info{kind, 0, 2}, 0x1000), std::nullopt);
  }
}

TEST(RangeAllocatorTest, FirstFitAndCoalescing) {
  RangeAllocator allocator(100);
  const auto a = allocator.Allocate(30);
  const auto b = allocator.Allocate(30);
  const auto c = allocator.Allocate(30);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, 0u);
  EXPECT_EQ(*b, 30u);
  EXPECT_FALSE(allocator.Allocate(11)) << "10 left";
  EXPECT_EQ(allocator.used(), 90u);
  allocator.Free(*a, 30);
  allocator.Free(*b, 30);
  EXPECT_EQ(*allocator.Allocate(60), 0u) << "the two freed ranges coalesced";
  allocator.Free(0, 60);
  allocator.Free(*c, 30);
  EXPECT_EQ(allocator.used(), 0u);
  EXPECT_EQ(*allocator.Allocate(100), 0u) << "everything coalesced back";
  EXPECT_FALSE(allocator.Allocate(0));
}

}  // namespace
}  // namespace profkit::unwind
