#include "profkit/symbolize/native_symbolizer.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "fixture_lib.h"
#include "fixture_process.h"
#include "testing/command.h"
#include "testing/temp_dir.h"

namespace profkit::symbolize {
namespace {

using testing::FindMapping;
using testing::FixtureProcess;
using testing::Mapping;
using testing::MarkedLine;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint64_t AddressOf(int (*function)(int)) { return reinterpret_cast<uint64_t>(function); }

uint32_t MustAdd(NativeSymbolizer& symbolizer, const Mapping& m,
                 const std::vector<std::string>& candidates) {
  auto id = symbolizer.AddModule(m.key, m.path, candidates);
  EXPECT_TRUE(id.ok()) << id.status().message();
  return id.ok() ? *id : 0;
}

// Copies `from` into the test's directory as `name` and returns the copy's path.
std::string CopyInto(const profkit::testing::TempDir& dir, const std::string& from,
                     const std::string& name) {
  const std::string to = dir.path() + "/" + name;
  std::filesystem::copy_file(from, to);
  return to;
}

TEST(NativeSymbolizerTest, SharedLibraryCppFunctionWithLine) {
  const Mapping m = FindMapping(0, AddressOf(&fixture::Widget::Compute));
  EXPECT_TRUE(EndsWith(m.path, "libsymbolize_fixture_lib.so")) << m.path;
  NativeSymbolizer symbolizer;
  const uint32_t id = MustAdd(symbolizer, m, {m.path});
  ASSERT_GE(id, 1u);

  const auto frames = symbolizer.Symbolize(id, m.FileOffset(AddressOf(&fixture::Widget::Compute)));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "fixture::Widget::Compute(int)");
  EXPECT_EQ(frames[0].system_name, "_ZN7fixture6Widget7ComputeEi");
  EXPECT_TRUE(EndsWith(frames[0].file, "tests/data/symbolize/fixture_lib.cc")) << frames[0].file;
  EXPECT_EQ(frames[0].line, MarkedLine("fixture_lib.cc", "compute"));
  EXPECT_EQ(frames[0].start_line, MarkedLine("fixture_lib.cc", "compute"));

  const auto c_frames = symbolizer.Symbolize(id, m.FileOffset(AddressOf(&fixture_exported_c) + 4));
  ASSERT_EQ(c_frames.size(), 1u);
  EXPECT_EQ(c_frames[0].function, "fixture_exported_c");
  EXPECT_EQ(c_frames[0].system_name, "fixture_exported_c");
  EXPECT_EQ(c_frames[0].start_line, MarkedLine("fixture_lib.cc", "exported_c"));
}

// A function whose DWARF sits inside a subprogram DIE without code (see fixture_lib.h) is named
// from DWARF, with its line, as llvm-addr2line names it.
TEST(NativeSymbolizerTest, FunctionInsideCodelessSubprogramHasItsLine) {
  const uint64_t invoker = reinterpret_cast<uint64_t>(fixture::InvokerOfLambda());
  const Mapping m = FindMapping(0, invoker);
  NativeSymbolizer symbolizer;
  const uint32_t id = MustAdd(symbolizer, m, {m.path});
  const auto frames = symbolizer.Symbolize(id, m.FileOffset(invoker));
  ASSERT_FALSE(frames.empty());
  // The lambda's static invoker: GCC names it _FUN, clang (the ASan+UBSan tree) __invoke.
  const std::string& name = frames.back().system_name;
  EXPECT_TRUE(name.find("_FUN") != std::string::npos || name.find("__invoke") != std::string::npos)
      << name;
  EXPECT_EQ(frames.back().line, MarkedLine("fixture_lib.cc", "lambda_invoker"));
}

// Executables: the leaf's entry, and a return address inside an always_inline function.
void ExpectExecutableSymbolizes(const std::string& path) {
  FixtureProcess process(path);
  const uint64_t leaf = process.address("leaf");
  const uint64_t ret = process.address("return");
  const Mapping m = FindMapping(process.pid(), leaf);
  EXPECT_EQ(m.path, path);
  NativeSymbolizer symbolizer;
  const uint32_t id = MustAdd(symbolizer, m, {m.MapFilesPath(process.pid()), m.path});
  ASSERT_GE(id, 1u);

  const auto frames = symbolizer.Symbolize(id, m.FileOffset(leaf));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "fixture_leaf");
  EXPECT_TRUE(EndsWith(frames[0].file, "fixture_main.c")) << frames[0].file;
  EXPECT_EQ(frames[0].line, MarkedLine("fixture_main.c", "leaf"));

  // Callers are looked up at return address - 1, the call instruction.
  const Mapping rm = FindMapping(process.pid(), ret);
  const auto chain = symbolizer.Symbolize(id, rm.FileOffset(ret - 1));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0].function, "fixture_inlined_step");
  EXPECT_EQ(chain[0].line, MarkedLine("fixture_main.c", "inlined_call"));
  EXPECT_EQ(chain[0].start_line, MarkedLine("fixture_main.c", "step"));
  EXPECT_EQ(chain[1].function, "fixture_outer");
  EXPECT_TRUE(EndsWith(chain[1].file, "fixture_main.c")) << chain[1].file;
  EXPECT_EQ(chain[1].line, MarkedLine("fixture_main.c", "outer_call"));
  EXPECT_EQ(chain[1].start_line, MarkedLine("fixture_main.c", "outer"));
}

TEST(NativeSymbolizerTest, PieExecutable) { ExpectExecutableSymbolizes(FIXTURE_PIE); }

TEST(NativeSymbolizerTest, NonPieExecutable) { ExpectExecutableSymbolizes(FIXTURE_NOPIE); }

TEST(NativeSymbolizerTest, StrippedDebugKeepsNamesWithoutLines) {
  FixtureProcess process(FIXTURE_PIE);
  const Mapping m = FindMapping(process.pid(), process.address("leaf"));
  NativeSymbolizer symbolizer;
  const uint32_t id =
      MustAdd(symbolizer, {m.start, m.end, m.pgoff, {1, 1}, FIXTURE_PIE_STRIPPED_DEBUG},
              {FIXTURE_PIE_STRIPPED_DEBUG});
  const auto frames = symbolizer.Symbolize(id, m.FileOffset(process.address("leaf")));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "fixture_leaf");
  EXPECT_EQ(frames[0].file, "");
  EXPECT_EQ(frames[0].line, 0);
}

TEST(NativeSymbolizerTest, StrippedAllFallsBackToDynsym) {
  const Mapping m = FindMapping(0, AddressOf(&fixture::Widget::Compute));
  NativeSymbolizer symbolizer;
  const uint32_t id =
      MustAdd(symbolizer, {m.start, m.end, m.pgoff, {1, 2}, FIXTURE_LIB_STRIPPED_ALL},
              {FIXTURE_LIB_STRIPPED_ALL});
  const auto frames = symbolizer.Symbolize(id, m.FileOffset(AddressOf(&fixture::Widget::Compute)));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "fixture::Widget::Compute(int)");
  EXPECT_EQ(frames[0].file, "");
  EXPECT_EQ(symbolizer.Module(id)->build_id, testing::ReadelfBuildId(FIXTURE_LIB));
}

TEST(NativeSymbolizerTest, StrippedExecutableWithoutExportsIsUnknown) {
  FixtureProcess process(FIXTURE_NOPIE);
  const Mapping m = FindMapping(process.pid(), process.address("leaf"));
  NativeSymbolizer symbolizer;
  const uint32_t id =
      MustAdd(symbolizer, {m.start, m.end, m.pgoff, {1, 3}, FIXTURE_NOPIE_STRIPPED_ALL},
              {FIXTURE_NOPIE_STRIPPED_ALL});
  EXPECT_TRUE(symbolizer.Symbolize(id, m.FileOffset(process.address("leaf"))).empty());
  EXPECT_EQ(symbolizer.counters().lookups, 1u);
  EXPECT_EQ(symbolizer.counters().misses, 1u);
}

TEST(NativeSymbolizerTest, BuildIdMatchesReadelf) {
  NativeSymbolizer symbolizer;
  for (const std::string path : {FIXTURE_LIB, FIXTURE_PIE, FIXTURE_NOPIE}) {
    const ModuleKey key{7, std::hash<std::string>()(path)};
    auto id = symbolizer.AddModule(key, path, {path});
    ASSERT_TRUE(id.ok()) << id.status().message();
    const std::string expected = testing::ReadelfBuildId(path);
    EXPECT_EQ(expected.size(), 40u) << path;
    EXPECT_EQ(symbolizer.Module(*id)->build_id, expected) << path;
    EXPECT_EQ(symbolizer.Module(*id)->file_size, std::filesystem::file_size(path));
    EXPECT_EQ(symbolizer.Module(*id)->path, path);
  }
  auto none = symbolizer.AddModule({7, 99}, FIXTURE_NO_BUILD_ID, {FIXTURE_NO_BUILD_ID});
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_EQ(symbolizer.Module(*none)->build_id, "");
}

TEST(NativeSymbolizerTest, SameKeyReturnsSameIdWithoutReopening) {
  NativeSymbolizer symbolizer;
  auto first = symbolizer.AddModule({1, 10}, "/lib/a.so", {FIXTURE_LIB});
  ASSERT_TRUE(first.ok());
  auto again = symbolizer.AddModule({1, 10}, "/lib/a.so", {"/nonexistent/a.so"});
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, *first);
  auto other = symbolizer.AddModule({2, 10}, "/lib/a.so", {FIXTURE_LIB});
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *first);
  EXPECT_EQ(symbolizer.counters().modules, 2u);
  EXPECT_EQ(symbolizer.counters().open_failures, 0u);
  EXPECT_EQ(symbolizer.Module(0), nullptr);
  EXPECT_EQ(symbolizer.Module(*other + 1), nullptr);
}

TEST(NativeSymbolizerTest, OpenCandidatesAreTriedInOrder) {
  profkit::testing::TempDir dir;
  const std::string text = dir.path() + "/not_elf";
  std::ofstream(text) << "not an ELF file\n";
  NativeSymbolizer symbolizer;
  auto id = symbolizer.AddModule({1, 1}, "/usr/lib/libx.so",
                                 {"/nonexistent/libx.so", text, FIXTURE_LIB, FIXTURE_PIE});
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(symbolizer.Module(*id)->build_id, testing::ReadelfBuildId(FIXTURE_LIB));
  EXPECT_EQ(symbolizer.Module(*id)->path, "/usr/lib/libx.so");

  auto failed = symbolizer.AddModule({1, 2}, "/usr/lib/liby.so", {"/nonexistent/liby.so", text});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("/usr/lib/liby.so"), std::string::npos);
  EXPECT_NE(failed.status().message().find("/nonexistent/liby.so"), std::string::npos);
  EXPECT_NE(failed.status().message().find("not an ELF file"), std::string::npos)
      << failed.status().message();
  EXPECT_EQ(symbolizer.counters().open_failures, 1u);
  EXPECT_EQ(symbolizer.counters().modules, 1u);
}

TEST(NativeSymbolizerTest, ModuleLimitAndRelease) {
  NativeSymbolizer symbolizer({.max_modules = 1});
  auto first = symbolizer.AddModule({1, 1}, "a", {FIXTURE_LIB});
  ASSERT_TRUE(first.ok());
  auto refused = symbolizer.AddModule({1, 2}, "b", {FIXTURE_PIE});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("max_modules"), std::string::npos);
  EXPECT_EQ(symbolizer.counters().module_limit_hits, 1u);

  symbolizer.ReleaseModule(*first);
  EXPECT_EQ(symbolizer.Module(*first), nullptr);
  EXPECT_TRUE(symbolizer.Symbolize(*first, 0).empty());
  auto second = symbolizer.AddModule({1, 2}, "b", {FIXTURE_PIE});
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*second, *first);  // ids are never reused
  EXPECT_EQ(symbolizer.counters().modules, 1u);
}

// A released module's DWARF, read and indexed, serves the next module of the same build: a
// compiler or cron job whose processes come and go is not read and indexed again each time.
TEST(NativeSymbolizerTest, ReleasedModulesLeaveTheirDwarfToTheNextOfTheirBuild) {
  const Mapping m = FindMapping(0, AddressOf(&fixture::Widget::Compute));
  const uint64_t offset = m.FileOffset(AddressOf(&fixture::Widget::Compute));
  NativeSymbolizer symbolizer;
  const uint32_t first = MustAdd(symbolizer, m, {m.path});
  const auto expected = symbolizer.Symbolize(first, offset);
  ASSERT_FALSE(expected.empty());
  ASSERT_GT(expected[0].line, 0);  // from DWARF
  symbolizer.ReleaseModule(first);
  // Another copy of the same build (another container's file): another key, the same build id.
  profkit::testing::TempDir dir;
  const std::string copy = CopyInto(dir, m.path, "libcopy.so");
  const uint32_t second = MustAdd(symbolizer, Mapping{.key = {9, 9}, .path = copy}, {copy});
  EXPECT_EQ(symbolizer.counters().dwarf_reuses, 1u);
  EXPECT_EQ(symbolizer.Symbolize(second, offset), expected);
  symbolizer.ReleaseModule(second);

  // Without the limit nothing is kept.
  NativeSymbolizer keeping_none(NativeSymbolizerLimits{.max_kept_dwarf_files = 0});
  const uint32_t third = MustAdd(keeping_none, m, {m.path});
  ASSERT_EQ(keeping_none.Symbolize(third, offset), expected);
  keeping_none.ReleaseModule(third);
  const uint32_t fourth = MustAdd(keeping_none, m, {m.path});
  EXPECT_EQ(keeping_none.counters().dwarf_reuses, 0u);
  EXPECT_EQ(keeping_none.Symbolize(fourth, offset), expected);
}

// The open DWARF of all files is bounded: past the budget it stops growing (frames keep their ELF
// names), and TrimDwarf, after a flush, closes the one used longest ago.
TEST(NativeSymbolizerTest, OpenDwarfIsBoundedByMemory) {
  const Mapping m = FindMapping(0, AddressOf(&fixture::Widget::Compute));
  const uint64_t offset = m.FileOffset(AddressOf(&fixture::Widget::Compute));
  NativeSymbolizer symbolizer({.max_dwarf_memory_bytes = 1});
  const uint32_t first = MustAdd(symbolizer, m, {m.path});
  const auto expected = symbolizer.Symbolize(first, offset);
  ASSERT_FALSE(expected.empty());
  ASSERT_GT(expected[0].line, 0);  // from DWARF
  const uint64_t one_file = symbolizer.counters().dwarf_bytes;
  EXPECT_GT(one_file, 0u);

  profkit::testing::TempDir dir;
  const std::string copy = CopyInto(dir, m.path, "libcopy.so");
  const uint32_t second = MustAdd(symbolizer, Mapping{.key = {9, 9}, .path = copy}, {copy});
  const auto by_symbol = symbolizer.Symbolize(second, offset);
  ASSERT_EQ(by_symbol.size(), 1u) << "no DWARF opened past the budget: the ELF symbol only";
  EXPECT_EQ(by_symbol[0].function, expected.back().function);
  EXPECT_EQ(by_symbol[0].line, 0);
  EXPECT_EQ(symbolizer.counters().dwarf_budget_skips, 1u);
  EXPECT_EQ(symbolizer.counters().dwarf_closes, 0u) << "nothing closes during a flush";
  EXPECT_EQ(symbolizer.Symbolize(first, offset), expected) << "the open DWARF still serves";

  symbolizer.TrimDwarf();
  EXPECT_EQ(symbolizer.counters().dwarf_closes, 1u);
  EXPECT_EQ(symbolizer.counters().dwarf_bytes, 0u);
  EXPECT_EQ(symbolizer.Symbolize(second, offset), expected);
  EXPECT_EQ(symbolizer.counters().dwarf_bytes, one_file);
}

// Compressed debug sections are decompressed onto the heap when the DWARF is opened (libdw): the
// budget counts them, at their decompressed size.
TEST(NativeSymbolizerTest, DecompressedDebugSectionsCountInTheDwarfBudget) {
  const Mapping m = FindMapping(0, AddressOf(&fixture::Widget::Compute));
  const uint64_t offset = m.FileOffset(AddressOf(&fixture::Widget::Compute));
  profkit::testing::TempDir dir;
  const std::string plain = CopyInto(dir, m.path, "plain.so");
  const std::string compressed = dir.path() + "/compressed.so";
  ASSERT_EQ(profkit::testing::RunCommand("objcopy --compress-debug-sections=zlib '" + plain +
                                         "' '" + compressed + "'")
                .exit_code,
            0);
  const auto dwarf_bytes_of = [&](const std::string& path) {
    NativeSymbolizer symbolizer({.max_dwarf_memory_bytes = 64 << 20});
    const uint32_t id = MustAdd(symbolizer, Mapping{.key = {7, 7}, .path = path}, {path});
    const auto frames = symbolizer.Symbolize(id, offset);
    EXPECT_TRUE(!frames.empty() && frames[0].line > 0) << path;
    return symbolizer.counters().dwarf_bytes;
  };
  const uint64_t mapped = dwarf_bytes_of(plain);  // sections mapped from the file: not heap
  const uint64_t decompressed = dwarf_bytes_of(compressed);
  // At least .debug_info and .debug_line, which every lookup reads.
  const auto section_bytes = [&](const char* name) {
    const auto out = profkit::testing::RunCommand("readelf -S -W '" + plain + "' | awk '$2 == \"" +
                                                  name + "\" {print $6}'");
    return std::stoull(out.text, nullptr, 16);  // the Size column, in hex
  };
  EXPECT_GE(decompressed - mapped, section_bytes(".debug_info") + section_bytes(".debug_line"));

  // A budget they would not fit in: the file's DWARF is not opened, its frames keep their ELF
  // symbol names; asked again, it is not opened either.
  NativeSymbolizer tight({.max_dwarf_memory_bytes = section_bytes(".debug_info")});
  const uint32_t id = MustAdd(tight, Mapping{.key = {7, 7}, .path = compressed}, {compressed});
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto frames = tight.Symbolize(id, offset);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_FALSE(frames[0].function.empty());
    EXPECT_EQ(frames[0].line, 0);
  }
  EXPECT_EQ(tight.counters().dwarf_bytes, 0u);
  EXPECT_EQ(tight.counters().dwarf_budget_skips, 2u);
}

// A module whose file was closed by the open-file limit and then deleted (its process is gone)
// is unknown; while its descriptor stays open, the deleted file still symbolizes.
TEST(NativeSymbolizerTest, OpenFileLimitAndDeletedFiles) {
  FixtureProcess process(FIXTURE_NO_BUILD_ID);
  const uint64_t offset =
      FindMapping(process.pid(), process.address("leaf")).FileOffset(process.address("leaf"));
  for (const size_t max_open_files : {1, 2}) {
    SCOPED_TRACE(max_open_files);
    profkit::testing::TempDir dir;
    const std::string copy = CopyInto(dir, FIXTURE_NO_BUILD_ID, "binary");
    NativeSymbolizer symbolizer({.max_open_files = max_open_files});
    auto deleted = symbolizer.AddModule({1, 1}, copy, {copy});
    auto other = symbolizer.AddModule({1, 2}, FIXTURE_LIB, {FIXTURE_LIB});
    ASSERT_TRUE(deleted.ok() && other.ok());
    std::filesystem::remove(copy);
    const auto frames = symbolizer.Symbolize(*deleted, offset);
    if (max_open_files == 1) {
      EXPECT_EQ(symbolizer.counters().file_closes, 1u);
      EXPECT_TRUE(frames.empty());
      EXPECT_EQ(symbolizer.counters().open_failures, 1u);
      EXPECT_EQ(symbolizer.counters().misses, 1u);
    } else {
      EXPECT_EQ(symbolizer.counters().file_closes, 0u);
      ASSERT_EQ(frames.size(), 1u);
      EXPECT_EQ(frames[0].function, "fixture_leaf");
    }
  }
}

// A process mapping the same (dev, inode) later brings candidates that reopen the closed file.
TEST(NativeSymbolizerTest, LaterCandidatesReopenClosedModule) {
  FixtureProcess process(FIXTURE_NO_BUILD_ID);
  const uint64_t offset =
      FindMapping(process.pid(), process.address("leaf")).FileOffset(process.address("leaf"));
  profkit::testing::TempDir dir;
  const std::string first = CopyInto(dir, FIXTURE_NO_BUILD_ID, "first");
  const std::string second = CopyInto(dir, FIXTURE_NO_BUILD_ID, "second");
  NativeSymbolizer symbolizer({.max_open_files = 1});
  auto id = symbolizer.AddModule({1, 1}, "/bin/app", {first});
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(symbolizer.AddModule({1, 2}, FIXTURE_LIB, {FIXTURE_LIB}).ok());
  std::filesystem::remove(first);
  EXPECT_TRUE(symbolizer.Symbolize(*id, offset).empty());

  auto again = symbolizer.AddModule({1, 1}, "/bin/app", {second});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *id);
  const auto frames = symbolizer.Symbolize(*id, offset);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "fixture_leaf");
}

// Symbol tables are cached by build id: two inodes of one build share a table, so alternating
// between them under a one-byte budget evicts nothing; a different file does evict.
TEST(NativeSymbolizerTest, TablesSharedByBuildIdAndEvictedByMemory) {
  const Mapping m = FindMapping(0, AddressOf(&fixture::Widget::Compute));
  const uint64_t offset = m.FileOffset(AddressOf(&fixture::Widget::Compute));
  profkit::testing::TempDir dir;
  const std::string copy = CopyInto(dir, FIXTURE_LIB, "copy.so");
  NativeSymbolizer symbolizer({.max_symbol_memory_bytes = 1});
  auto a = symbolizer.AddModule({1, 1}, FIXTURE_LIB, {FIXTURE_LIB});
  auto b = symbolizer.AddModule({1, 2}, copy, {copy});
  auto c = symbolizer.AddModule({1, 3}, FIXTURE_PIE, {FIXTURE_PIE});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  for (const uint32_t id : {*a, *b, *a}) {
    ASSERT_EQ(symbolizer.Symbolize(id, offset).size(), 1u);
  }
  EXPECT_EQ(symbolizer.counters().evictions, 0u);
  symbolizer.Symbolize(*c, 0x1000);
  EXPECT_EQ(symbolizer.counters().evictions, 1u);
  const auto frames = symbolizer.Symbolize(*b, offset);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "fixture::Widget::Compute(int)");
  EXPECT_EQ(symbolizer.counters().evictions, 2u);
}

TEST(NativeSymbolizerTest, UnknownIdsAndUnmappedOffsetsMiss) {
  NativeSymbolizer symbolizer;
  auto id = symbolizer.AddModule({1, 1}, FIXTURE_LIB, {FIXTURE_LIB});
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(symbolizer.Symbolize(0, 0x1000).empty());
  EXPECT_TRUE(symbolizer.Symbolize(*id + 1, 0x1000).empty());
  EXPECT_TRUE(symbolizer.Symbolize(*id, uint64_t{1} << 40).empty());
  EXPECT_EQ(symbolizer.counters().lookups, 3u);
  EXPECT_EQ(symbolizer.counters().misses, 3u);
}

TEST(NativeSymbolizerTest, LibcLoadsInMilliseconds) {
  const uint64_t address = reinterpret_cast<uint64_t>(&gnu_get_libc_version);
  const Mapping m = FindMapping(0, address);
  // libc's own tables: a host with libc6-dbg would otherwise name the frame from its debug file
  // (debug_info_test.cc covers those).
  NativeSymbolizer symbolizer({}, DebugInfoOptions{.debug_dirs = {}, .debuginfod_urls = ""});
  const auto start = std::chrono::steady_clock::now();
  const uint32_t id = MustAdd(symbolizer, m, {m.path});
  const auto frames = symbolizer.Symbolize(id, m.FileOffset(address));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().function, "gnu_get_libc_version");
  // Milliseconds in practice; the bound leaves room for sanitizer builds on a loaded machine.
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));
}

// With the host's debug files (libc6-dbg names __libc_start_main's versions
// `__libc_start_main@GLIBC_2.2.5` and `@@GLIBC_2.34` in its .symtab) or without them (.dynsym has
// no versions in names), the frame is the function's plain name.
TEST(NativeSymbolizerTest, VersionedSymbolsAreNamedWithoutTheirVersion) {
  const uint64_t address = reinterpret_cast<uint64_t>(dlsym(RTLD_DEFAULT, "__libc_start_main"));
  ASSERT_NE(address, 0u);
  const Mapping m = FindMapping(0, address);
  NativeSymbolizer symbolizer(
      {}, DebugInfoOptions{.debug_dirs = {"/usr/lib/debug"}, .debuginfod_urls = ""});
  const uint32_t id = MustAdd(symbolizer, m, {m.path});
  const auto frames = symbolizer.Symbolize(id, m.FileOffset(address));
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().function, "__libc_start_main");
}

// [symbols] max_section_mb: a file whose symbol tables are larger than the limit gets no symbols
// (nothing is read), counted; the same file symbolizes under the default limit.
TEST(NativeSymbolizerTest, SectionsOverTheLimitAreNotRead) {
  const Mapping m = FindMapping(0, AddressOf(&fixture::Widget::Compute));
  NativeSymbolizer limited(NativeSymbolizerLimits{.max_section_bytes = 64});
  const uint32_t id = MustAdd(limited, m, {m.path});
  EXPECT_TRUE(limited.Symbolize(id, m.FileOffset(AddressOf(&fixture::Widget::Compute))).empty());
  EXPECT_EQ(limited.ReturnAddressOffsetFromSp(id, m.FileOffset(AddressOf(&fixture_exported_c))),
            std::nullopt);
  EXPECT_GE(limited.counters().oversized_sections, 2u) << "symbols and CFI refused";

  NativeSymbolizer symbolizer;
  const uint32_t full = MustAdd(symbolizer, m, {m.path});
  EXPECT_FALSE(
      symbolizer.Symbolize(full, m.FileOffset(AddressOf(&fixture::Widget::Compute))).empty());
  EXPECT_EQ(symbolizer.counters().oversized_sections, 0u);
}

__attribute__((noinline)) int FunctionOfThisUnit(int x) { return x * 3 + 1; }

// [symbols] max_dwarf_units: this test program has one DWARF unit per source file; indexing one
// of them is counted as a cut file, the function is still named from .symtab.
TEST(NativeSymbolizerTest, DwarfUnitsPastTheLimitAreNotIndexed) {
  const uint64_t address = reinterpret_cast<uint64_t>(&FunctionOfThisUnit);
  const Mapping m = FindMapping(0, address);
  NativeSymbolizer limited(NativeSymbolizerLimits{.max_dwarf_units = 1});
  const uint32_t id = MustAdd(limited, m, {m.path});
  const auto frames = limited.Symbolize(id, m.FileOffset(address));
  ASSERT_FALSE(frames.empty());
  EXPECT_NE(frames.back().system_name.find("FunctionOfThisUnit"), std::string::npos);
  EXPECT_EQ(limited.counters().dwarf_unit_limit_hits, 1u);

  NativeSymbolizer symbolizer;
  const uint32_t full = MustAdd(symbolizer, m, {m.path});
  const auto lined = symbolizer.Symbolize(full, m.FileOffset(address));
  ASSERT_FALSE(lined.empty());
  EXPECT_GT(lined.back().line, 0);
  EXPECT_EQ(symbolizer.counters().dwarf_unit_limit_hits, 0u);
}

}  // namespace
}  // namespace profkit::symbolize
