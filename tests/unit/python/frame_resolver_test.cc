// FunctionTable interning and CodeObjectCache's read-once / checksum-validated caching.
#include "profkit/python/frame_resolver.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fake_memory.h"
#include "profkit/bpf_abi.h"

namespace profkit::python {
namespace {

using testing::AsciiStr;
using testing::BorrowedMemory;
using testing::BytesObject;
using testing::CodeFields;
using testing::CodeObjectBytes;
using testing::FakeMemory;

TEST(FunctionTableTest, InternsWithStableIds) {
  FunctionTable table;
  EXPECT_EQ(table.size(), 1u);  // the unknown function
  const PythonFunction a{.name = "a", .filename = "/x.py", .first_line = 1};
  const PythonFunction b{.name = "b", .filename = "/x.py", .first_line = 1};
  const uint32_t id_a = table.Intern(a);
  const uint32_t id_b = table.Intern(b);
  EXPECT_NE(id_a, FunctionTable::kUnknownFunction);
  EXPECT_NE(id_b, FunctionTable::kUnknownFunction);
  EXPECT_NE(id_a, id_b);
  EXPECT_EQ(table.Intern(a), id_a);
  EXPECT_EQ(table.Intern(PythonFunction{.name = "a", .filename = "/x.py", .first_line = 1}), id_a);
  // Any field makes another function.
  EXPECT_NE(table.Intern({.name = "a", .filename = "/y.py", .first_line = 1}), id_a);
  EXPECT_NE(table.Intern({.name = "a", .filename = "/x.py", .first_line = 2}), id_a);
  EXPECT_EQ(table.size(), 5u);
  EXPECT_EQ(table.Get(id_a), a);
  EXPECT_EQ(table.Get(id_b), b);
  EXPECT_EQ(table.overflows(), 0u);
}

TEST(FunctionTableTest, UnknownIdsGiveTheUnknownFunction) {
  FunctionTable table;
  const PythonFunction& unknown = table.Get(FunctionTable::kUnknownFunction);
  EXPECT_FALSE(unknown.name.empty());
  EXPECT_EQ(table.Get(0), unknown);
  EXPECT_EQ(table.Get(2), unknown);
  EXPECT_EQ(table.Get(UINT32_MAX), unknown);
  EXPECT_EQ(table.Intern(unknown), FunctionTable::kUnknownFunction);
}

TEST(FunctionTableTest, OverflowMapsToUnknownAndCounts) {
  FunctionTable table(3);  // the unknown function and two more
  const uint32_t a = table.Intern({.name = "a"});
  const uint32_t b = table.Intern({.name = "b"});
  EXPECT_EQ(table.Intern({.name = "c"}), FunctionTable::kUnknownFunction);
  EXPECT_EQ(table.Intern({.name = "d"}), FunctionTable::kUnknownFunction);
  EXPECT_EQ(table.overflows(), 2u);
  EXPECT_EQ(table.size(), 3u);
  // Known functions keep resolving when full.
  EXPECT_EQ(table.Intern({.name = "a"}), a);
  EXPECT_EQ(table.Intern({.name = "b"}), b);
  EXPECT_EQ(table.overflows(), 2u);
  EXPECT_EQ(table.Get(a).name, "a");
}

constexpr uint64_t kCodeA = 0x20000;
constexpr uint64_t kCodeB = 0x21000;
constexpr uint64_t kCodeC = 0x22000;

// A 3.12 process whose code objects live in fake memory the test changes under the cache.
class CodeObjectCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    o_ = *BuiltinOffsets(3, 12);
    // The first two entries of a real 3.12 location table: co_firstlineno for code unit 0, the
    // next line for unit 1.
    const std::vector<uint8_t> table = {0x80, 0x00, 0xd8, 0x08, 0x09};
    memory_.Map(0x40000, BytesObject(o_, table));
  }

  // Maps a code object named `name` at `address`; returns the checksum BPF would compute.
  uint16_t MapCode(uint64_t address, const std::string& name, int32_t first_line) {
    const uint64_t strings = address + 0x800;
    memory_.Map(strings, AsciiStr(o_, name));
    memory_.Map(strings + 0x100, AsciiStr(o_, "/srv/" + name + ".py"));
    const CodeFields fields{.argcount = 1,
                            .flags = 3,
                            .firstlineno = first_line,
                            .name = strings,
                            .qualname = strings,
                            .filename = strings + 0x100,
                            .line_table = 0x40000};
    memory_.Map(address, CodeObjectBytes(o_, fields));
    return profkit_python_code_checksum(1, 0, 3, static_cast<uint32_t>(first_line));
  }

  std::unique_ptr<CodeObjectCache> Cache(size_t max_entries = CodeObjectCache::kDefaultMaxEntries) {
    return std::make_unique<CodeObjectCache>(o_, LineTableFormat::kLocationTable,
                                             std::make_unique<BorrowedMemory>(memory_),
                                             max_entries);
  }

  CPythonOffsets o_;
  FakeMemory memory_;
  FunctionTable functions_;
};

TEST_F(CodeObjectCacheTest, ReadsOnceThenHits) {
  const uint16_t checksum = MapCode(kCodeA, "handler", 10);
  auto cache = Cache();
  const ResolvedPythonFrame first = cache->Resolve(kCodeA, 0, checksum, functions_);
  EXPECT_NE(first.function_id, FunctionTable::kUnknownFunction);
  EXPECT_EQ(first.line, 10);
  EXPECT_EQ(functions_.Get(first.function_id),
            (PythonFunction{.name = "handler", .filename = "/srv/handler.py", .first_line = 10}));
  const uint64_t reads_after_first = memory_.reads();

  const ResolvedPythonFrame again = cache->Resolve(kCodeA, 0, checksum, functions_);
  EXPECT_EQ(again.function_id, first.function_id);
  EXPECT_EQ(again.line, 10);
  // Another instruction of the same object: its line, still no memory read.
  const ResolvedPythonFrame other = cache->Resolve(kCodeA, 1, checksum, functions_);
  EXPECT_EQ(other.function_id, first.function_id);
  EXPECT_EQ(other.line, 11);
  EXPECT_EQ(cache->Resolve(kCodeA, -1, checksum, functions_).line, 10);
  EXPECT_EQ(memory_.reads(), reads_after_first);
  EXPECT_EQ(cache->counters().reads, 1u);
  EXPECT_EQ(cache->counters().read_failures, 0u);
  EXPECT_EQ(cache->counters().checksum_mismatches, 0u);
}

TEST_F(CodeObjectCacheTest, ChecksumMismatchThenTheNewObject) {
  const uint16_t old_checksum = MapCode(kCodeA, "old", 10);
  auto cache = Cache();
  const uint32_t old_id = cache->Resolve(kCodeA, 0, old_checksum, functions_).function_id;
  ASSERT_NE(old_id, FunctionTable::kUnknownFunction);

  // The object was freed and another one took its address; BPF sampled yet another object there
  // (its checksum matches neither): the frame is unknown, not the cached or the present function.
  const uint16_t new_checksum = MapCode(kCodeA, "new", 20);
  ASSERT_NE(new_checksum, old_checksum);
  const uint16_t gone_checksum = profkit_python_code_checksum(5, 0, 3, 99);
  ASSERT_NE(gone_checksum, new_checksum);
  ASSERT_NE(gone_checksum, old_checksum);
  const ResolvedPythonFrame gone = cache->Resolve(kCodeA, 0, gone_checksum, functions_);
  EXPECT_EQ(gone.function_id, FunctionTable::kUnknownFunction);
  EXPECT_EQ(cache->counters().checksum_mismatches, 1u);
  EXPECT_EQ(cache->counters().reads, 2u);

  // BPF now reports the new object: read again and resolved to it.
  const ResolvedPythonFrame fresh = cache->Resolve(kCodeA, 0, new_checksum, functions_);
  ASSERT_NE(fresh.function_id, FunctionTable::kUnknownFunction);
  EXPECT_NE(fresh.function_id, old_id);
  EXPECT_EQ(functions_.Get(fresh.function_id).name, "new");
  EXPECT_EQ(fresh.line, 20);
  EXPECT_EQ(cache->counters().reads, 3u);
  EXPECT_EQ(cache->Resolve(kCodeA, 1, new_checksum, functions_).line, 21);
  EXPECT_EQ(cache->counters().reads, 3u);
  EXPECT_EQ(cache->counters().checksum_mismatches, 1u);
}

TEST_F(CodeObjectCacheTest, MismatchOnFirstRead) {
  const uint16_t checksum = MapCode(kCodeA, "f", 10);
  auto cache = Cache();
  const uint16_t sampled = profkit_python_code_checksum(1, 0, 3, 11);
  ASSERT_NE(sampled, checksum);
  EXPECT_EQ(cache->Resolve(kCodeA, 0, sampled, functions_).function_id,
            FunctionTable::kUnknownFunction);
  EXPECT_EQ(cache->counters().checksum_mismatches, 1u);
  EXPECT_EQ(cache->Resolve(kCodeA, 0, checksum, functions_).line, 10);
  EXPECT_EQ(cache->counters().reads, 2u);
}

TEST_F(CodeObjectCacheTest, UnreadableIsUnknownAndRetried) {
  auto cache = Cache();
  const ResolvedPythonFrame frame = cache->Resolve(kCodeA, 0, 1234, functions_);
  EXPECT_EQ(frame.function_id, FunctionTable::kUnknownFunction);
  EXPECT_EQ(cache->counters().reads, 1u);
  EXPECT_EQ(cache->counters().read_failures, 1u);
  EXPECT_EQ(cache->counters().checksum_mismatches, 0u);
  EXPECT_EQ(functions_.size(), 1u);

  // Failures are not cached: once the object is readable it resolves.
  const uint16_t checksum = MapCode(kCodeA, "late", 7);
  const ResolvedPythonFrame late = cache->Resolve(kCodeA, 0, checksum, functions_);
  EXPECT_EQ(functions_.Get(late.function_id).name, "late");
  EXPECT_EQ(cache->counters().reads, 2u);
  EXPECT_EQ(cache->counters().read_failures, 1u);

  // A malformed object (its name's str is not compact) is a read failure too.
  const uint16_t bad = MapCode(kCodeB, "bad", 8);
  memory_.Map(kCodeB + 0x800, testing::RawStr(o_, 3, testing::StrState(1, false, true),
                                              std::vector<uint8_t>{'b', 'a', 'd'}, true));
  EXPECT_EQ(cache->Resolve(kCodeB, 0, bad, functions_).function_id,
            FunctionTable::kUnknownFunction);
  EXPECT_EQ(cache->counters().read_failures, 2u);
}

TEST_F(CodeObjectCacheTest, EqualFunctionsShareAnId) {
  // Two code objects (e.g. two processes, or a reloaded module) of the same function.
  const uint16_t checksum = MapCode(kCodeA, "same", 10);
  ASSERT_EQ(MapCode(kCodeB, "same", 10), checksum);
  auto cache = Cache();
  EXPECT_EQ(cache->Resolve(kCodeA, 0, checksum, functions_).function_id,
            cache->Resolve(kCodeB, 0, checksum, functions_).function_id);
  EXPECT_EQ(functions_.size(), 2u);
}

TEST_F(CodeObjectCacheTest, RestartsWhenFull) {
  const uint16_t a = MapCode(kCodeA, "a", 1);
  const uint16_t b = MapCode(kCodeB, "b", 2);
  const uint16_t c = MapCode(kCodeC, "c", 3);
  auto cache = Cache(2);
  cache->Resolve(kCodeA, 0, a, functions_);
  cache->Resolve(kCodeB, 0, b, functions_);
  cache->Resolve(kCodeA, 0, a, functions_);
  cache->Resolve(kCodeB, 0, b, functions_);
  EXPECT_EQ(cache->counters().reads, 2u);
  // A third object empties the cache: a and b are read again on their next use.
  const uint32_t c_id = cache->Resolve(kCodeC, 0, c, functions_).function_id;
  EXPECT_EQ(functions_.Get(c_id).name, "c");
  EXPECT_EQ(cache->counters().reads, 3u);
  cache->Resolve(kCodeC, 0, c, functions_);
  EXPECT_EQ(cache->counters().reads, 3u);
  const uint32_t a_id = cache->Resolve(kCodeA, 0, a, functions_).function_id;
  EXPECT_EQ(functions_.Get(a_id).name, "a");
  EXPECT_EQ(cache->counters().reads, 4u);
  // Function ids survive the restart.
  EXPECT_EQ(functions_.size(), 4u);
}

}  // namespace
}  // namespace profkit::python
