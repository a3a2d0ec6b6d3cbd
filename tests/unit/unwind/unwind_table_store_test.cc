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
#include "testing/temp_dir.h"

namespace profkit::unwind {
namespace {

constexpr char kLibc[] = "/usr/lib/x86_64-linux-gnu/libc.so.6";
constexpr char kLzma[] = "/usr/lib/x86_64-linux-gnu/liblzma.so.5";

class FakeMaps final : public UnwindMaps {
 public:
  FakeMaps(size_t rows, size_t pages) : rows_(rows), pages_(pages) {}
  size_t row_capacity() const override { return rows_.size(); }
  size_t page_capacity() const override { return pages_.size(); }
  Status WriteRows(uint32_t first_row, std::span<const profkit_unwind_row> rows) override {
    EXPECT_EQ(first_row % 2, 0u) << "rows are placed in whole pairs";
    EXPECT_EQ(rows.size() % 2, 0u);
    return Write(rows_, first_row, rows);
  }
  Status WritePages(uint32_t first_page, std::span<const profkit_unwind_page> pages) override {
    return Write(pages_, first_page, pages);
  }
  Status WriteInfos(uint32_t first_info, std::span<const profkit_unwind_info> infos) override {
    std::lock_guard lock(mutex_);
    EXPECT_EQ(first_info, infos_.size()) << "rules are appended, without holes";
    infos_.insert(infos_.end(), infos.begin(), infos.end());
    return Status::Ok();
  }
  Status SetProcess(uint32_t pid, const profkit_unwind_process& process) override {
    std::lock_guard lock(mutex_);
    processes_[pid] = process;
    return Status::Ok();
  }
  void RemoveProcess(uint32_t pid) override {
    std::lock_guard lock(mutex_);
    processes_.erase(pid);
  }
  std::optional<profkit_unwind_process> Process(uint32_t pid) {
    std::lock_guard lock(mutex_);
    auto it = processes_.find(pid);
    if (it == processes_.end()) return std::nullopt;
    return it->second;
  }
  // The rule the BPF walker finds for file address `file_pc` of mapping `m`, through the maps'
  // contents (bpf/native_unwinder.bpf.h, unwind_find_info).
  std::optional<profkit_unwind_info> Rule(const profkit_unwind_mapping& m, uint64_t file_pc) {
    std::lock_guard lock(mutex_);
    const uint64_t page_number = file_pc >> PROFKIT_UNWIND_PAGE_SHIFT;
    if (page_number < m.page_base || page_number - m.page_base >= m.page_count) return std::nullopt;
    const profkit_unwind_page& page = pages_.at(m.first_page + (page_number - m.page_base));
    const auto first = rows_.begin() + page.first_row;
    const auto it = std::upper_bound(
        first, first + page.row_count, file_pc & (PROFKIT_UNWIND_PAGE_SIZE - 1),
        [](uint64_t pc, const profkit_unwind_row& row) { return pc < row.pc_low; });
    if (it == first) return std::nullopt;
    return infos_.at(std::prev(it)->info);
  }

 private:
  template <typename T>
  Status Write(std::vector<T>& array, uint32_t first, std::span<const T> values) {
    std::lock_guard lock(mutex_);
    EXPECT_LE(first + values.size(), array.size());
    std::copy(values.begin(), values.end(), array.begin() + first);
    return Status::Ok();
  }

  std::mutex mutex_;
  std::vector<profkit_unwind_row> rows_;
  std::vector<profkit_unwind_page> pages_;
  std::vector<profkit_unwind_info> infos_;
  std::map<uint32_t, profkit_unwind_process> processes_;
};

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

TEST(UnwindTableStoreTest, UnusedTablesGiveWayWhenSpaceIsNeeded) {
  UnwindInfoSet infos;
  Result<UnwindTable> libc = BuildUnwindTable(kLibc);
  ASSERT_TRUE(libc.ok());
  Result<PackedUnwindTable> packed = PackUnwindTable(libc->rows, infos, 1 << 20);
  ASSERT_TRUE(packed.ok());
  FakeMaps maps(packed->rows.size() + 64, 1 << 16);  // room for libc alone
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
  Result<UnwindTable> lzma = BuildUnwindTable(kLzma);
  ASSERT_TRUE(lzma.ok());
  UnwindInfoSet infos;
  Result<PackedUnwindTable> packed = PackUnwindTable(lzma->rows, infos, 1 << 20);
  ASSERT_TRUE(packed.ok());
  FakeMaps maps(packed->rows.size() + 10, 1 << 16);  // room for liblzma, not for libc
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
