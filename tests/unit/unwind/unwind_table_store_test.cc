// The table store without BPF: a fake UnwindMaps records what would be written to the maps.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "profkit/unwind/unwind_table_store.h"
#include "testing/fake_unwind_maps.h"
#include "testing/temp_dir.h"

namespace profkit::unwind {
namespace {

constexpr char kLibc[] = "/usr/lib/x86_64-linux-gnu/libc.so.6";
constexpr char kLzma[] = "/usr/lib/x86_64-linux-gnu/liblzma.so.5";

using FakeMaps = testing::FakeUnwindMaps;

// libc mapped the way ld.so maps it: its executable segment at a page-aligned address.
ExecMapping TextMapping(const std::string& path, uint64_t start) {
  Result<UnwindTable> table = BuildUnwindTable(path);
  EXPECT_TRUE(table.ok());
  const LoadSegment& text = table->segments.at(0);
  const uint64_t page_offset = text.offset & ~uint64_t{0xfff};
  return ExecMapping{.start = start,
                     .end = start + ((text.size + 0xfff) & ~uint64_t{0xfff}),
                     .file_offset = page_offset,
                     .open_path = path};
}

// The rows `path`'s table takes in the BPF array, to size fake maps around it.
size_t PackedRows(const char* path) {
  Result<UnwindTable> table = BuildUnwindTable(path);
  EXPECT_TRUE(table.ok());
  UnwindInfoSet infos;
  Result<PackedUnwindTable> packed = PackUnwindTable(table->rows, infos, 1 << 20);
  EXPECT_TRUE(packed.ok());
  return packed->rows.size();
}

// A mapping no sample reached gets no table built for it, only one its file already has.
TEST(UnwindTableStoreTest, UnsampledMappingsOnlyGetTablesAlreadyBuilt) {
  FakeMaps maps(1 << 20, 1 << 16);
  UnwindTableStore store(maps);
  ExecMapping libc = TextMapping(kLibc, 0x7f0000000000);
  ExecMapping lzma = TextMapping(kLzma, 0x7f1000000000);
  lzma.sampled = false;
  store.SetMappings(100, {libc, lzma});
  store.WaitIdle();
  EXPECT_EQ(store.counters().tables_built, 1u);
  auto process = maps.Process(100);
  ASSERT_TRUE(process);
  ASSERT_EQ(process->count, 1u) << "liblzma falls back to frame pointers";
  EXPECT_EQ(process->mappings[0].start, libc.start);

  // Another process reaches liblzma: built; the first gets it too, unsampled in it still.
  store.SetMappings(200, {TextMapping(kLzma, 0x7f2000000000)});
  store.SetMappings(100, {libc, lzma});
  store.WaitIdle();
  EXPECT_EQ(store.counters().tables_built, 2u);
  process = maps.Process(100);
  ASSERT_TRUE(process);
  EXPECT_EQ(process->count, 2u);
}

TEST(UnwindTableStoreTest, SharesOneTablePerFileAndKeepsItWhenUnmapped) {
  FakeMaps maps(1 << 20, 1 << 16);
  UnwindTableStore store(maps);
  store.SetMappings(100, {TextMapping(kLibc, 0x7f0000000000), TextMapping(kLzma, 0x7f1000000000)});
  store.SetMappings(200, {TextMapping(kLibc, 0x7f2000000000)});
  store.WaitIdle();
  UnwindStoreCounters counters = store.counters();
  EXPECT_EQ(counters.tables_built, 2u);  // libc once for both processes
  EXPECT_EQ(counters.files, 2u);
  EXPECT_EQ(counters.processes, 2u);

  const auto first = maps.Process(100);
  const auto second = maps.Process(200);
  ASSERT_TRUE(first && second);
  ASSERT_EQ(first->count, 2u);
  ASSERT_EQ(second->count, 1u);
  EXPECT_LT(first->mappings[0].start, first->mappings[1].start);  // sorted
  EXPECT_EQ(first->mappings[0].first_page, second->mappings[0].first_page);
  // A pc in the mapping minus the bias is a file address the table covers: every row of libc's
  // table is found through the maps, by both processes' (one) tables, next to liblzma's.
  const profkit_unwind_mapping& libc = second->mappings[0];
  Result<UnwindTable> table = BuildUnwindTable(kLibc);
  ASSERT_TRUE(table.ok());
  for (const UnwindRow& row : table->rows) {
    const std::optional<profkit_unwind_info> rule = maps.Rule(libc, row.pc);
    ASSERT_TRUE(rule && SameRule(*rule, row.info)) << std::hex << row.pc;
  }
  const uint64_t file_pc = table->rows[table->rows.size() / 2].pc;
  EXPECT_GE(file_pc + libc.bias, libc.start);
  EXPECT_LT(file_pc + libc.bias, libc.end);
  EXPECT_EQ(counters.pages_used, first->mappings[0].page_count + first->mappings[1].page_count);

  store.RemoveProcess(100);
  store.WaitIdle();
  counters = store.counters();
  EXPECT_EQ(counters.files, 2u);  // liblzma kept, unused; libc still mapped by 200
  EXPECT_EQ(counters.unused_files, 1u);
  EXPECT_EQ(counters.evicted, 0u);
  EXPECT_FALSE(maps.Process(100));
  store.SetMappings(200, {});  // 200 unmapped everything
  store.WaitIdle();
  counters = store.counters();
  EXPECT_EQ(counters.unused_files, 2u);
  EXPECT_FALSE(maps.Process(200));
  // Mapped again: the kept table serves, nothing is built.
  store.SetMappings(300, {TextMapping(kLzma, 0x7f3000000000)});
  store.WaitIdle();
  counters = store.counters();
  EXPECT_EQ(counters.tables_built, 2u);
  EXPECT_EQ(counters.unused_files, 1u);
  ASSERT_TRUE(maps.Process(300));
  Result<UnwindTable> lzma = BuildUnwindTable(kLzma);
  ASSERT_TRUE(lzma.ok());
  for (const UnwindRow& row : lzma->rows) {
    const std::optional<profkit_unwind_info> rule =
        maps.Rule(maps.Process(300)->mappings[0], row.pc);
    ASSERT_TRUE(rule && SameRule(*rule, row.info)) << std::hex << row.pc;
  }
}

// The frameless-leaf recovery reads a loaded table back by build id: every row of libc's as the
// walker finds it; nothing once the table is evicted.
TEST(UnwindTableStoreTest, LoadedRuleReadsTablesBackByBuildId) {
  FakeMaps maps(PackedRows(kLibc) + 64, 1 << 16);  // room for libc alone
  UnwindTableStore store(maps);
  const std::string libc_id = ElfFile::Open(kLibc)->BuildId();
  const std::string lzma_id = ElfFile::Open(kLzma)->BuildId();
  ASSERT_FALSE(libc_id.empty() || lzma_id.empty());
  EXPECT_EQ(store.LoadedRule(lzma_id, 0x1000), std::nullopt) << "not built yet";

  store.SetMappings(1, {TextMapping(kLzma, 0x10000000)});
  store.WaitIdle();
  Result<UnwindTable> lzma = BuildUnwindTable(kLzma);
  ASSERT_TRUE(lzma.ok());
  for (const UnwindRow& row : lzma->rows) {
    const std::optional<profkit_unwind_info> rule = store.LoadedRule(lzma_id, row.pc);
    ASSERT_TRUE(rule && SameRule(*rule, row.info)) << std::hex << row.pc;
  }
  EXPECT_EQ(store.LoadedRule(lzma_id, lzma->rows.back().pc + 0x100000)->kind, PROFKIT_UNWIND_NONE)
      << "past the table: no rule, and no CFI to read either";
  EXPECT_EQ(store.LoadedRule("00", lzma->rows.front().pc), std::nullopt);

  store.RemoveProcess(1);  // liblzma kept, unused, then evicted for libc's rows
  store.SetMappings(2, {TextMapping(kLibc, 0x20000000)});
  store.WaitIdle();
  ASSERT_EQ(store.counters().evicted, 1u);
  EXPECT_EQ(store.LoadedRule(lzma_id, lzma->rows.front().pc), std::nullopt);
  Result<UnwindTable> libc = BuildUnwindTable(kLibc);
  ASSERT_TRUE(libc.ok());
  for (const UnwindRow& row : libc->rows) {
    const std::optional<profkit_unwind_info> rule = store.LoadedRule(libc_id, row.pc);
    ASSERT_TRUE(rule && SameRule(*rule, row.info)) << std::hex << row.pc;
  }
}

TEST(UnwindTableStoreTest, UnusedTablesGiveWayWhenSpaceIsNeeded) {
  FakeMaps maps(PackedRows(kLibc) + 64, 1 << 16);  // room for libc alone
  UnwindTableStore store(maps);
  store.SetMappings(1, {TextMapping(kLzma, 0x10000000)});
  store.RemoveProcess(1);  // liblzma kept, unused
  store.SetMappings(2, {TextMapping(kLibc, 0x20000000)});
  store.WaitIdle();
  const UnwindStoreCounters counters = store.counters();
  EXPECT_EQ(counters.evicted, 1u) << "liblzma gave its rows to libc";
  EXPECT_EQ(counters.capacity_exceeded, 0u);
  EXPECT_EQ(counters.unused_files, 0u);
  ASSERT_TRUE(maps.Process(2));
  EXPECT_EQ(maps.Process(2)->count, 1u);
}

TEST(UnwindTableStoreTest, KeepsABoundedNumberOfUnusedFiles) {
  FakeMaps maps(1 << 20, 1 << 16);
  UnwindTableStore store(maps, {.max_unused_files = 1});
  store.SetMappings(1, {TextMapping(kLzma, 0x10000000)});
  store.SetMappings(2, {TextMapping(kLibc, 0x20000000)});
  store.RemoveProcess(1);
  store.RemoveProcess(2);
  store.WaitIdle();
  const UnwindStoreCounters counters = store.counters();
  EXPECT_EQ(counters.unused_files, 1u);
  EXPECT_EQ(counters.evicted, 1u);
  EXPECT_EQ(counters.files, 1u);
}

TEST(UnwindTableStoreTest, FallsBackWhenTheCapIsHit) {
  FakeMaps maps(PackedRows(kLzma) + 10, 1 << 16);  // room for liblzma, not for libc
  UnwindTableStore store(maps);
  store.SetMappings(1, {TextMapping(kLzma, 0x10000000), TextMapping(kLibc, 0x20000000)});
  store.WaitIdle();
  const UnwindStoreCounters counters = store.counters();
  EXPECT_EQ(counters.capacity_exceeded, 1u);
  EXPECT_EQ(counters.files, 1u);
  const auto process = maps.Process(1);
  ASSERT_TRUE(process);
  EXPECT_EQ(process->count, 1u);  // libc left to frame pointers
  // The rows of a table let go are reused.
  store.RemoveProcess(1);
  store.SetMappings(2, {TextMapping(kLzma, 0x10000000)});
  store.WaitIdle();
  EXPECT_EQ(maps.Process(2)->count, 1u);
}

TEST(UnwindTableStoreTest, CopiesOfOneLibraryShareATableByBuildId) {
  // A container image's libc is its own file (another device and inode) with the host's build id.
  testing::TempDir dir;
  const std::string copy = dir.path() + "/liblzma.so.5";
  std::filesystem::copy_file(kLzma, copy);
  // The same bytes without the build id note: known only by device and inode, built again.
  const std::string anonymous = dir.path() + "/liblzma-no-build-id.so.5";
  const std::string command =
      std::string(OBJCOPY_PATH) + " --remove-section .note.gnu.build-id " + kLzma + " " + anonymous;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  ASSERT_EQ(ElfFile::Open(anonymous)->BuildId(), "");
  ASSERT_EQ(ElfFile::Open(copy)->BuildId().size(), 40u);  // sha1

  FakeMaps maps(1 << 20, 1 << 16);
  UnwindTableStore store(maps);
  store.SetMappings(1, {TextMapping(kLzma, 0x10000000)});
  store.SetMappings(2, {TextMapping(copy, 0x20000000)});
  store.SetMappings(3, {TextMapping(anonymous, 0x30000000)});
  store.SetMappings(4, {TextMapping(copy, 0x40000000)});  // found by its stat this time
  store.WaitIdle();
  UnwindStoreCounters counters = store.counters();
  EXPECT_EQ(counters.tables_built, 2u);
  EXPECT_EQ(counters.shared_by_build_id, 1u);
  EXPECT_EQ(counters.files, 2u);
  ASSERT_TRUE(maps.Process(1) && maps.Process(2) && maps.Process(3) && maps.Process(4));
  EXPECT_EQ(maps.Process(1)->mappings[0].first_page, maps.Process(2)->mappings[0].first_page);
  EXPECT_EQ(maps.Process(1)->mappings[0].first_page, maps.Process(4)->mappings[0].first_page);
  EXPECT_NE(maps.Process(1)->mappings[0].first_page, maps.Process(3)->mappings[0].first_page);

  // The shared table stays while any copy is mapped, and is evicted with every way to it.
  store.RemoveProcess(1);
  store.RemoveProcess(2);
  store.WaitIdle();
  EXPECT_EQ(store.counters().unused_files, 0u);
  store.RemoveProcess(4);
  store.RemoveProcess(3);
  store.WaitIdle();
  EXPECT_EQ(store.counters().unused_files, 2u);
}

TEST(UnwindTableStoreTest, FilesWithoutCfiOrUnreadableAreSkipped) {
  testing::TempDir dir;
  const std::string garbage = dir.path() + "/garbage.so";
  { std::ofstream(garbage) << std::string(8192, '\x7f'); }
  FakeMaps maps(1 << 16, 1 << 12);
  UnwindTableStore store(maps);
  store.SetMappings(
      7, {ExecMapping{.start = 0x1000, .end = 0x3000, .file_offset = 0, .open_path = garbage},
          ExecMapping{.start = 0x5000, .end = 0x6000, .open_path = dir.path() + "/missing"}});
  store.WaitIdle();
  EXPECT_EQ(store.counters().build_failures, 1u);
  EXPECT_FALSE(maps.Process(7));  // nothing to unwind with: bpf_get_stack() for it
}

}  // namespace
}  // namespace profkit::unwind
