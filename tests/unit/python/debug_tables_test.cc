// The _Py_DebugOffsets decoders of 3.14 and 3.15 on the tables of real interpreters (the first
// 760 / 888 bytes of the `.PyRuntime` section of Debian sid's python3.14 3.14.10-1 and python3.15
// 3.15.2-1, checked in under tests/data/python/; libpython3.1x.so.1.0 holds identical bytes), and
// mutations of them that must be rejected with the failed check named.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "profkit/python/offsets.h"

namespace profkit::python {
namespace {

std::vector<uint8_t> Table(const std::string& name) {
  std::ifstream in(std::string(PROFKIT_TEST_DATA_DIR) + "/python/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint8_t> Table314() { return Table("debug_offsets_3.14.10.bin"); }
std::vector<uint8_t> Table315() { return Table("debug_offsets_3.15.2.bin"); }

void SetU64(std::vector<uint8_t>& bytes, size_t position, uint64_t value) {
  ASSERT_LE(position + 8, bytes.size());
  std::memcpy(bytes.data() + position, &value, sizeof(value));
}

std::string ErrorOf(const std::vector<uint8_t>& bytes) {
  auto result = ParseDebugOffsets(bytes);
  EXPECT_FALSE(result.ok());
  return result.ok() ? "" : std::string(result.status().message());
}

// Positions in the 3.14 / 3.15 tables (Include/internal/pycore_debug_offsets.h of each version).
constexpr size_t kVersionPos = 8;
constexpr size_t kFreeThreadedPos = 16;
constexpr size_t kThread314SizePos = 176;
constexpr size_t kThread315BaseFramePos = 216;
constexpr size_t kFrame315OwnerPos = 352;
constexpr size_t kCode314AdaptivePos = 384;
constexpr size_t kUnicode315CompactSizePos = 744;

TEST(DebugTables314Test, DecodesTheRealTable) {
  const std::vector<uint8_t> bytes = Table314();
  ASSERT_EQ(bytes.size(), 760u);
  auto result = ParseDebugOffsets(bytes);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const CPythonOffsets& o = *result;
  EXPECT_EQ(o.version, (PythonVersion{.major = 3, .minor = 14, .micro = 10}));
  EXPECT_EQ(o.thread_state_lookup, ThreadStateLookup::kGilstateTss);
  EXPECT_EQ(o.runtime.interpreters_head, 808u);
  EXPECT_EQ(o.runtime.tss_is_initialized, 2336u);
  EXPECT_EQ(o.runtime.tss_key, 2340u);
  EXPECT_EQ(o.interpreter.threads_head, 7344u);
  EXPECT_EQ(o.thread_state.size, 832u);
  EXPECT_EQ(o.thread_state.next, 8u);
  EXPECT_EQ(o.thread_state.interp, 16u);
  EXPECT_EQ(o.thread_state.current_frame, 72u);
  EXPECT_EQ(o.thread_state.base_frame, kNoOffset);
  EXPECT_EQ(o.thread_state.thread_id, 152u);
  EXPECT_EQ(o.thread_state.native_thread_id, 160u);
  EXPECT_EQ(o.interpreter_frame.size, 88u);
  EXPECT_EQ(o.interpreter_frame.code, 0u);
  EXPECT_EQ(o.interpreter_frame.code_tag_bits, 3u);
  EXPECT_EQ(o.interpreter_frame.previous, 8u);
  EXPECT_EQ(o.interpreter_frame.instr_ptr, 56u);
  EXPECT_EQ(o.interpreter_frame.owner, 74u);
  EXPECT_EQ(o.code_object.size, 216u);
  EXPECT_EQ(o.code_object.filename, 112u);
  EXPECT_EQ(o.code_object.name, 120u);
  EXPECT_EQ(o.code_object.qualname, 128u);
  EXPECT_EQ(o.code_object.linetable, 136u);
  EXPECT_EQ(o.code_object.firstlineno, 68u);
  EXPECT_EQ(o.code_object.argcount, 52u);
  EXPECT_EQ(o.code_object.kwonlyargcount, 60u);
  EXPECT_EQ(o.code_object.flags, 48u);
  EXPECT_EQ(o.code_object.code_adaptive, 208u);
  EXPECT_EQ(o.object.ob_type, 8u);
  EXPECT_EQ(o.bytes.ob_size, 16u);
  EXPECT_EQ(o.bytes.ob_sval, 32u);
  EXPECT_EQ(o.unicode.length, 16u);
  EXPECT_EQ(o.unicode.state, 32u);
  EXPECT_EQ(o.unicode.ascii_data, 40u);
  EXPECT_EQ(o.unicode.compact_data, 56u);  // not in the 3.14 table: sizeof(PyCompactUnicodeObject)
}

TEST(DebugTables315Test, DecodesTheRealTable) {
  const std::vector<uint8_t> bytes = Table315();
  ASSERT_EQ(bytes.size(), 888u);
  auto result = ParseDebugOffsets(bytes);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const CPythonOffsets& o = *result;
  EXPECT_EQ(o.version, (PythonVersion{.major = 3, .minor = 15, .micro = 2}));
  // autoTSSkey is gone; the thread-local _Py_tss_gilstate replaces it.
  EXPECT_EQ(o.thread_state_lookup, ThreadStateLookup::kGilstateThreadLocal);
  EXPECT_EQ(o.runtime.tss_is_initialized, kNoOffset);
  EXPECT_EQ(o.runtime.tss_key, kNoOffset);
  EXPECT_EQ(o.runtime.interpreters_head, 936u);
  EXPECT_EQ(o.interpreter.threads_head, 7336u);
  EXPECT_EQ(o.thread_state.size, 888u);
  EXPECT_EQ(o.thread_state.current_frame, 72u);
  EXPECT_EQ(o.thread_state.base_frame, 80u);
  EXPECT_EQ(o.thread_state.thread_id, 176u);
  EXPECT_EQ(o.thread_state.native_thread_id, 184u);
  EXPECT_EQ(o.interpreter_frame.size, 88u);
  EXPECT_EQ(o.interpreter_frame.code, 0u);
  EXPECT_EQ(o.interpreter_frame.code_tag_bits, 3u);
  EXPECT_EQ(o.interpreter_frame.previous, 8u);
  EXPECT_EQ(o.interpreter_frame.instr_ptr, 56u);
  EXPECT_EQ(o.interpreter_frame.owner, 74u);
  EXPECT_EQ(o.code_object.size, 216u);
  EXPECT_EQ(o.code_object.filename, 112u);
  EXPECT_EQ(o.code_object.qualname, 128u);
  EXPECT_EQ(o.code_object.linetable, 136u);
  EXPECT_EQ(o.code_object.firstlineno, 68u);
  EXPECT_EQ(o.code_object.argcount, 52u);
  EXPECT_EQ(o.code_object.code_adaptive, 208u);
  EXPECT_EQ(o.object.ob_type, 8u);
  EXPECT_EQ(o.bytes.ob_sval, 32u);
  EXPECT_EQ(o.unicode.state, 32u);
  EXPECT_EQ(o.unicode.ascii_data, 40u);
  EXPECT_EQ(o.unicode.compact_data, 56u);  // from the table's compactunicodeobject_size
}

// The 3.15 table read with the 3.14 positions would put the code object at the wrong place: the
// decoders are chosen by the table's own version, and a table shorter than its layout is refused.
TEST(DebugTablesTest, LayoutFollowsTheTableVersion) {
  std::vector<uint8_t> bytes = Table315();
  bytes.resize(760);
  EXPECT_NE(ErrorOf(bytes).find("760 bytes, the 3.15 layout needs 888"), std::string::npos);
  bytes = Table314();
  SetU64(bytes, kVersionPos, 0x030F02F0);  // claims 3.15 but has 3.14's size
  EXPECT_NE(ErrorOf(bytes).find("the 3.15 layout needs 888"), std::string::npos);
}

TEST(DebugTablesTest, AcceptsTrailingBytesAndLaterPatchReleases) {
  for (std::vector<uint8_t> bytes : {Table314(), Table315()}) {
    const uint64_t minor = bytes[10];
    bytes.resize(2048, 0xAB);  // the caller reads more of _PyRuntime than the table
    SetU64(bytes, kVersionPos, 0x03000FF0 | (minor << 16));  // 3.1x.15
    auto result = ParseDebugOffsets(bytes);
    ASSERT_TRUE(result.ok()) << result.status().message();
    EXPECT_EQ(result->version.micro, 15);
  }
}

TEST(DebugTablesTest, RejectsANewerMinorWithOneClearReason) {
  std::vector<uint8_t> bytes = Table315();
  SetU64(bytes, kVersionPos, 0x031000F0);  // 3.16.0
  EXPECT_EQ(ErrorOf(bytes),
            "_Py_DebugOffsets: no known layout for Python 3.16 (this parser knows 3.13–3.15)");
}

TEST(DebugTablesTest, RejectsPreReleasesBadCookieAndTruncation) {
  std::vector<uint8_t> bytes = Table314();
  SetU64(bytes, kVersionPos, 0x030E00B2);  // 3.14.0b2
  EXPECT_NE(ErrorOf(bytes).find("pre-release"), std::string::npos);
  bytes = Table315();
  std::memcpy(bytes.data(), "xdebugpz", 8);
  EXPECT_NE(ErrorOf(bytes).find("cookie"), std::string::npos);
  bytes = Table315();
  EXPECT_NE(ErrorOf({bytes.begin(), bytes.begin() + 20}).find("too short"), std::string::npos);
  EXPECT_NE(ErrorOf({bytes.begin(), bytes.end() - 8}).find("needs 888"), std::string::npos);
}

TEST(DebugTablesTest, FreeThreadedBuildsAreDetected) {
  for (std::vector<uint8_t> bytes : {Table314(), Table315()}) {
    const int minor = bytes[10];
    SetU64(bytes, kFreeThreadedPos, 1);
    EXPECT_EQ(ErrorOf(bytes), "_Py_DebugOffsets: free-threaded CPython 3." + std::to_string(minor) +
                                  " is not supported yet");
    SetU64(bytes, kFreeThreadedPos, 2);
    EXPECT_NE(ErrorOf(bytes).find("free_threaded is 2, not 0 or 1"), std::string::npos);
  }
}

TEST(DebugTablesTest, RejectsOutOfRangeOffsetsAndSizesNamingTheField) {
  std::vector<uint8_t> bytes = Table314();
  SetU64(bytes, kThread314SizePos, 0);
  EXPECT_NE(ErrorOf(bytes).find("thread_state.size: size 0 out of range"), std::string::npos);

  bytes = Table314();
  SetU64(bytes, kCode314AdaptivePos, 216);  // the inline bytecode must start inside the struct
  EXPECT_NE(ErrorOf(bytes).find("code_object.co_code_adaptive: offset 216 + 2 bytes beyond"),
            std::string::npos);

  bytes = Table315();
  SetU64(bytes, kThread315BaseFramePos, 884);  // 884 + 8 > sizeof(PyThreadState) 888
  EXPECT_NE(ErrorOf(bytes).find("thread_state.base_frame: offset 884 + 8 bytes beyond struct size "
                                "888"),
            std::string::npos);

  bytes = Table315();
  SetU64(bytes, kFrame315OwnerPos, uint64_t{1} << 32);
  EXPECT_NE(ErrorOf(bytes).find("interpreter_frame.owner: offset 4294967296 out of range"),
            std::string::npos);

  bytes = Table315();
  SetU64(bytes, kUnicode315CompactSizePos, 24);  // smaller than the ASCII header (40)
  EXPECT_NE(ErrorOf(bytes).find("compact header size 24 below the ASCII header size 40"),
            std::string::npos);
}

// Every word of the real tables is read by some check or field: corrupting any of the struct sizes
// the parser relies on fails it, never yields offsets.
TEST(DebugTablesTest, NoSingleWordCorruptionCrashes) {
  for (const std::vector<uint8_t>& original : {Table314(), Table315()}) {
    for (size_t position = 8; position + 8 <= original.size(); position += 8) {
      for (const uint64_t value : {uint64_t{0}, uint64_t{1} << 20, UINT64_MAX}) {
        std::vector<uint8_t> bytes = original;
        SetU64(bytes, position, value);
        auto result = ParseDebugOffsets(bytes);  // ok or an error, never a crash
        if (result.ok()) {
          EXPECT_LT(result->code_object.code_adaptive, result->code_object.size);
          EXPECT_LT(result->interpreter_frame.owner, result->interpreter_frame.size);
        }
      }
    }
  }
}

}  // namespace
}  // namespace profkit::python
