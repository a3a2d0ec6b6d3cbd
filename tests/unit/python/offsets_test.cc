// Pure tests of the tables, the _Py_DebugOffsets parser and the version parsers (no interpreter).
#include "profkit/python/offsets.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace profkit::python {
namespace {

// `_Py_DebugOffsets` of a live CPython 3.13.0 (x86-64): the uint64_t fields after the cookie, in
// struct order (positions and the version value in docs/cpython-internals.md §3).
constexpr uint64_t kLive3130[] = {
    51183856, 0,    283320, 608, 632, 194968, 7272, 7264, 7344, 7400, 7656, 7640, 7648, 16, 7752,
    0,        7768, 7760,   304, 0,   8,      16,   72,   152,  160,  232,  32,   80,   8,  0,
    56,       72,   70,     208, 112, 120,    128,  136,  68,   52,   96,   104,  200,  16, 8,
    416,      24,   88,     168, 32,  24,     16,   40,   24,   16,   48,   32,   40,   24, 16,
    32,       16,   24,     40,  16,  32,     64,   32,   16,   40,   240,  200};

// Byte positions inside _Py_DebugOffsets 3.13 (docs/cpython-internals.md §3).
constexpr size_t kVersionPos = 8;
constexpr size_t kFreeThreadedPos = 16;
constexpr size_t kThreadSizePos = 152;
constexpr size_t kThreadCurrentFramePos = 184;
constexpr size_t kCodeSizePos = 272;
constexpr size_t kCodeQualnamePos = 296;
constexpr size_t kLayoutSize = 584;

std::vector<uint8_t> Live3130() {
  std::vector<uint8_t> bytes(8 + sizeof(kLive3130));
  std::memcpy(bytes.data(), "xdebugpy", 8);
  std::memcpy(bytes.data() + 8, kLive3130, sizeof(kLive3130));
  return bytes;
}

void SetU64(std::vector<uint8_t>& bytes, size_t position, uint64_t value) {
  std::memcpy(bytes.data() + position, &value, sizeof(value));
}

std::string ErrorOf(const std::vector<uint8_t>& bytes) {
  auto result = ParseDebugOffsets(bytes);
  EXPECT_FALSE(result.ok());
  return result.ok() ? "" : result.status().message();
}

TEST(BuiltinOffsetsTest, CoversExactly38To312) {
  for (int minor = 8; minor <= 12; ++minor) {
    const auto offsets = BuiltinOffsets(3, minor);
    ASSERT_TRUE(offsets.has_value()) << minor;
    EXPECT_EQ(offsets->version, (PythonVersion{.major = 3, .minor = minor}));
  }
  EXPECT_FALSE(BuiltinOffsets(3, 7).has_value());
  EXPECT_FALSE(BuiltinOffsets(3, 13).has_value());
  EXPECT_FALSE(BuiltinOffsets(2, 8).has_value());
}

TEST(BuiltinOffsetsTest, FrameModelMatchesVersion) {
  // ≤ 3.10 walk PyFrameObject from tstate->frame; 3.11/3.12 go through cframe.
  for (int minor : {8, 9, 10}) {
    const auto o = *BuiltinOffsets(3, minor);
    EXPECT_NE(o.thread_state.frame, kNoOffset);
    EXPECT_EQ(o.thread_state.cframe, kNoOffset);
    EXPECT_EQ(o.interpreter_frame.code, kNoOffset);
    EXPECT_EQ(o.code_object.qualname, kNoOffset);
  }
  for (int minor : {11, 12}) {
    const auto o = *BuiltinOffsets(3, minor);
    EXPECT_EQ(o.thread_state.frame, kNoOffset);
    EXPECT_NE(o.thread_state.cframe, kNoOffset);
    EXPECT_NE(o.cframe.current_frame, kNoOffset);
    EXPECT_NE(o.code_object.code_adaptive, kNoOffset);
  }
  EXPECT_NE(BuiltinOffsets(3, 9)->code_object.lnotab, kNoOffset);
  EXPECT_EQ(BuiltinOffsets(3, 10)->code_object.lnotab, kNoOffset);
  EXPECT_NE(BuiltinOffsets(3, 11)->interpreter_frame.is_entry, kNoOffset);
  EXPECT_EQ(BuiltinOffsets(3, 12)->interpreter_frame.is_entry, kNoOffset);
}

TEST(ParseDebugOffsetsTest, ParsesLive3130) {
  auto result = ParseDebugOffsets(Live3130());
  ASSERT_TRUE(result.ok()) << result.status().message();
  const CPythonOffsets& o = *result;
  EXPECT_EQ(o.version, (PythonVersion{.major = 3, .minor = 13, .micro = 0}));
  EXPECT_EQ(o.runtime.interpreters_head, 632u);
  EXPECT_EQ(o.runtime.tss_key, 2164u);
  EXPECT_EQ(o.interpreter.threads_head, 7344u);
  EXPECT_EQ(o.thread_state.current_frame, 72u);
  EXPECT_EQ(o.thread_state.native_thread_id, 160u);
  EXPECT_EQ(o.thread_state.size, 304u);
  EXPECT_EQ(o.thread_state.frame, kNoOffset);
  EXPECT_EQ(o.thread_state.cframe, kNoOffset);
  EXPECT_EQ(o.interpreter_frame.code, 0u);
  EXPECT_EQ(o.interpreter_frame.previous, 8u);
  EXPECT_EQ(o.interpreter_frame.instr_ptr, 56u);
  EXPECT_EQ(o.interpreter_frame.owner, 70u);
  EXPECT_EQ(o.code_object.qualname, 128u);
  EXPECT_EQ(o.code_object.linetable, 136u);
  EXPECT_EQ(o.code_object.code_adaptive, 200u);
  EXPECT_EQ(o.code_object.kwonlyargcount, 60u);
  EXPECT_EQ(o.unicode.ascii_data, 40u);
  EXPECT_EQ(o.unicode.compact_data, 56u);
  EXPECT_EQ(o.bytes.ob_sval, 32u);
}

TEST(ParseDebugOffsetsTest, AcceptsTrailingBytesAndReleaseCandidates) {
  std::vector<uint8_t> bytes = Live3130();
  bytes.resize(4096, 0xAB);                // the caller reads more of _PyRuntime than the struct
  SetU64(bytes, kVersionPos, 0x030D05C1);  // 3.13.5rc1
  auto result = ParseDebugOffsets(bytes);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->version.micro, 5);
}

TEST(ParseDebugOffsetsTest, RejectsBadCookie) {
  std::vector<uint8_t> bytes = Live3130();
  bytes[0] = 'X';
  EXPECT_NE(ErrorOf(bytes).find("cookie"), std::string::npos);
  // A 3.12 _PyRuntime starts with zeros, not a cookie.
  EXPECT_NE(ErrorOf(std::vector<uint8_t>(kLayoutSize, 0)).find("cookie"), std::string::npos);
}

TEST(ParseDebugOffsetsTest, RejectsTruncatedInput) {
  std::vector<uint8_t> bytes = Live3130();
  EXPECT_NE(ErrorOf({bytes.begin(), bytes.begin() + 12}).find("too short"), std::string::npos);
  EXPECT_NE(ErrorOf({bytes.begin(), bytes.end() - 1}).find("needs 584"), std::string::npos);
  EXPECT_FALSE(ParseDebugOffsets({}).ok());
}

TEST(ParseDebugOffsetsTest, RejectsUnknownOrInvalidVersions) {
  std::vector<uint8_t> bytes = Live3130();
  SetU64(bytes, kVersionPos, 0x031000F0);  // 3.16: no known layout
  EXPECT_NE(ErrorOf(bytes).find("no known layout for Python 3.16"), std::string::npos);
  SetU64(bytes, kVersionPos, 0x040D00F0);  // major 4
  EXPECT_NE(ErrorOf(bytes).find("major 4"), std::string::npos);
  SetU64(bytes, kVersionPos, 0x030D0050);  // release level 5
  EXPECT_NE(ErrorOf(bytes).find("release level"), std::string::npos);
  SetU64(bytes, kVersionPos, 0x030D00A1);  // 3.13.0a1: layout not frozen yet
  EXPECT_NE(ErrorOf(bytes).find("pre-release"), std::string::npos);
  SetU64(bytes, kVersionPos, 0x1030D00F0);  // above 32 bits
  EXPECT_NE(ErrorOf(bytes).find("not a PY_VERSION_HEX"), std::string::npos);
}

TEST(ParseDebugOffsetsTest, RejectsFreeThreadedBuilds) {
  std::vector<uint8_t> bytes = Live3130();
  SetU64(bytes, kFreeThreadedPos, 1);
  EXPECT_NE(ErrorOf(bytes).find("free-threaded"), std::string::npos);
}

TEST(ParseDebugOffsetsTest, RejectsOutOfRangeOffsetsAndSizes) {
  std::vector<uint8_t> bytes = Live3130();
  SetU64(bytes, kThreadCurrentFramePos, 1 << 20);
  EXPECT_NE(ErrorOf(bytes).find("thread_state.current_frame: offset 1048576 out of range"),
            std::string::npos);

  bytes = Live3130();
  SetU64(bytes, kThreadCurrentFramePos, 300);  // 300 + 8 > sizeof(PyThreadState) 304
  EXPECT_NE(ErrorOf(bytes).find("beyond struct size 304"), std::string::npos);

  bytes = Live3130();
  SetU64(bytes, kCodeQualnamePos, UINT64_MAX);
  EXPECT_NE(ErrorOf(bytes).find("code_object.qualname"), std::string::npos);

  bytes = Live3130();
  SetU64(bytes, kThreadSizePos, 0);
  EXPECT_NE(ErrorOf(bytes).find("thread_state.size: size 0 out of range"), std::string::npos);

  bytes = Live3130();
  SetU64(bytes, kCodeSizePos, uint64_t{1} << 40);
  EXPECT_NE(ErrorOf(bytes).find("code_object.size"), std::string::npos);

  bytes = Live3130();
  SetU64(bytes, kCodeSizePos, 64);  // smaller than fields the headers put beyond it
  EXPECT_NE(ErrorOf(bytes).find("beyond struct size 64"), std::string::npos);
}

TEST(ParseDebugOffsetsTest, ErrorsNameTheStruct) {
  std::vector<uint8_t> bytes = Live3130();
  bytes[3] = 0;
  EXPECT_EQ(ErrorOf(bytes).rfind("_Py_DebugOffsets: ", 0), 0u);
}

TEST(ParsePyVersionTest, Hex) {
  auto v = ParsePyVersionHex(0x030B07F0);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, (PythonVersion{.major = 3, .minor = 11, .micro = 7}));
  EXPECT_FALSE(ParsePyVersionHex(0).ok());
  EXPECT_FALSE(ParsePyVersionHex(0x020707F0).ok());
  EXPECT_FALSE(ParsePyVersionHex(0x030B0700).ok());  // release level 0
}

TEST(ParsePyVersionTest, Bytes) {
  const uint8_t py_3_12_1[] = {0xF0, 0x01, 0x0C, 0x03};
  auto v = ParsePyVersionBytes(py_3_12_1);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(*v, (PythonVersion{.major = 3, .minor = 12, .micro = 1}));
  const uint8_t too_short[] = {0xF0, 0x01, 0x0C};
  EXPECT_NE(ParsePyVersionBytes(too_short).status().message().find("expected 4"),
            std::string::npos);
  const uint8_t garbage[] = {0xFF, 0xFF, 0xFF, 0xFF};
  EXPECT_NE(ParsePyVersionBytes(garbage).status().message().find("Py_Version"), std::string::npos);
}

TEST(ParsePyVersionTest, String) {
  EXPECT_EQ(*ParsePyVersionString("3.11.7"), (PythonVersion{.major = 3, .minor = 11, .micro = 7}));
  EXPECT_EQ(*ParsePyVersionString("3.13.0rc1"),
            (PythonVersion{.major = 3, .minor = 13, .micro = 0}));
  EXPECT_EQ(*ParsePyVersionString("3.12.1+"), (PythonVersion{.major = 3, .minor = 12, .micro = 1}));
  EXPECT_EQ(*ParsePyVersionString("3.14.0a3+"),
            (PythonVersion{.major = 3, .minor = 14, .micro = 0}));
  for (const char* bad : {"", "3", "3.11", "3.11.", "3.11.7x", "3.11.7rc", "2.7.18", "3..1",
                          "3.11.7 ", "-3.11.7", "3.99999.1"}) {
    EXPECT_FALSE(ParsePyVersionString(bad).ok()) << bad;
  }
}

TEST(ParsePyVersionTest, FileName) {
  const PythonVersion v311{.major = 3, .minor = 11};
  EXPECT_EQ(*ParsePythonFileName("/usr/bin/python3.11"), v311);
  EXPECT_EQ(*ParsePythonFileName("libpython3.11.so.1.0"), v311);
  EXPECT_EQ(*ParsePythonFileName("/usr/lib/x86_64-linux-gnu/libpython3.11d.so"), v311);
  EXPECT_EQ(*ParsePythonFileName("python3.11t"), v311);
  for (const char* bad : {"", "python3", "/usr/bin/python", "python3.", "python2.7",
                          "python3.11-config", "libpython3.x.so", "/python3.11/bin/ruby"}) {
    EXPECT_FALSE(ParsePythonFileName(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace profkit::python
