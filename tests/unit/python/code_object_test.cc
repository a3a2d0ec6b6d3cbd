// ReadString / ReadCodeObject against synthetic objects laid out with the real 3.8–3.12 offsets
// (co_lnotab before 3.10, co_name before 3.11).
#include "profkit/python/code_object.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fake_memory.h"
#include "profkit/bpf_abi.h"

namespace profkit::python {
namespace {

using testing::AsciiStr;
using testing::BytesObject;
using testing::CodeFields;
using testing::CodeObjectBytes;
using testing::CompactStr;
using testing::FakeMemory;
using testing::RawStr;
using testing::StrState;

constexpr uint64_t kStr = 0x10000;
constexpr uint64_t kCode = 0x20000;
constexpr uint64_t kName = 0x30000;
constexpr uint64_t kQualname = 0x31000;
constexpr uint64_t kFilename = 0x32000;
constexpr uint64_t kTable = 0x33000;

// co_linetable of `def f(a): ...` (5 lines, co_firstlineno 1) as CPython 3.12.1 built it, and its
// co_lines(): [(0, 2, 1), (2, 12, 2), (12, 22, 3), (22, 32, 4), (32, 34, 5)] in bytes.
const std::vector<uint8_t> kLocationTable312 = {
    0x80, 0x00, 0xd8, 0x08, 0x09, 0x88, 0x41, 0x89, 0x05, 0x80, 0x41, 0xd8, 0x07, 0x08, 0x88,
    0x31, 0x82, 0x75, 0xd8, 0x0f, 0x10, 0x90, 0x31, 0x89, 0x75, 0x88, 0x0c, 0xd8, 0x0b, 0x0c};

class CodeObjectTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    std::optional<CPythonOffsets> offsets = BuiltinOffsets(3, GetParam());
    ASSERT_TRUE(offsets.has_value());
    o_ = *offsets;
  }

  Result<std::string> Str(std::vector<uint8_t> object, size_t max_bytes = 1024) {
    memory_.Map(kStr, std::move(object));
    return ReadString(memory_, o_, kStr, max_bytes);
  }

  void MapCode(const CodeFields& fields, std::string_view name = "method",
               std::string_view qualname = "Klass.method",
               std::string_view filename = "/srv/app/models.py",
               const std::vector<uint8_t>& table = kLocationTable312) {
    memory_.Map(kName, AsciiStr(o_, name));
    memory_.Map(kQualname, AsciiStr(o_, qualname));
    memory_.Map(kFilename, AsciiStr(o_, filename));
    memory_.Map(kTable, BytesObject(o_, table));
    memory_.Map(kCode, CodeObjectBytes(o_, fields));
  }

  static CodeFields Fields() {
    return {.argcount = 2,
            .kwonlyargcount = 1,
            .flags = 0x3,
            .firstlineno = 41,
            .name = kName,
            .qualname = kQualname,
            .filename = kFilename,
            .line_table = kTable};
  }

  CPythonOffsets o_;
  FakeMemory memory_;
};

TEST_P(CodeObjectTest, AsciiString) {
  Result<std::string> s = Str(AsciiStr(o_, "handle_request"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "handle_request");
  s = Str(AsciiStr(o_, ""));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "");
}

TEST_P(CodeObjectTest, NonAsciiKindsBecomeUtf8) {
  // Latin-1 (kind 1 without the ascii flag): "café".
  Result<std::string> s = Str(CompactStr(o_, 1, {'c', 'a', 'f', 0xe9}));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "caf\xc3\xa9");
  // UCS-2: "日本.py".
  s = Str(CompactStr(o_, 2, {0x65e5, 0x672c, '.', 'p', 'y'}));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "\xe6\x97\xa5\xe6\x9c\xac.py");
  // UCS-4: "a😀" and the largest code point.
  s = Str(CompactStr(o_, 4, {'a', 0x1f600, 0x10ffff}));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "a\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
  // Two-byte boundary in UCS-2: U+07FF and U+0800.
  s = Str(CompactStr(o_, 2, {0x7ff, 0x800}));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "\xdf\xbf\xe0\xa0\x80");
}

TEST_P(CodeObjectTest, CutAtMaxBytesOnACharacterBoundary) {
  Result<std::string> s = Str(AsciiStr(o_, "abcdef"), 3);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "abc");
  // "é" needs 2 bytes and only 1 is left.
  s = Str(CompactStr(o_, 1, {'c', 'a', 'f', 0xe9}), 4);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "caf");
  s = Str(CompactStr(o_, 1, {'c', 'a', 'f', 0xe9}), 5);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "caf\xc3\xa9");
  // Two 4-byte characters in 7 bytes: only the first fits.
  s = Str(CompactStr(o_, 4, {0x1f600, 0x1f601}), 7);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "\xf0\x9f\x98\x80");
  s = Str(CompactStr(o_, 2, {0x65e5}), 2);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, "");
}

TEST_P(CodeObjectTest, HugeDeclaredLengthReadsOnlyMaxBytes) {
  // The data region holds just 16 characters; a string claiming 10^12 must not be read whole.
  const std::string text(16, 'x');
  Result<std::string> s =
      Str(RawStr(o_, int64_t{1} << 40, StrState(1, true, true),
                 {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, true),
          16);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, text);
}

TEST_P(CodeObjectTest, RejectsMalformedStrings) {
  const std::vector<uint8_t> abc = {'a', 'b', 'c'};
  // Not compact (a legacy string whose data lives elsewhere).
  EXPECT_FALSE(Str(RawStr(o_, 3, StrState(1, false, true), abc, true)).ok());
  // Kinds other than 1, 2, 4.
  for (const uint32_t kind : {0u, 3u, 5u, 7u}) {
    EXPECT_FALSE(Str(RawStr(o_, 3, StrState(kind, true, false), abc, false)).ok()) << kind;
  }
  EXPECT_FALSE(Str(RawStr(o_, -1, StrState(1, true, true), abc, true)).ok());
  // Beyond U+10FFFF.
  EXPECT_FALSE(Str(CompactStr(o_, 4, {'a', 0x110000})).ok());
  EXPECT_FALSE(Str(CompactStr(o_, 4, {0xffffffff})).ok());
  // The ascii flag with a non-ASCII byte.
  EXPECT_FALSE(
      Str(RawStr(o_, 3, StrState(1, true, true), std::vector<uint8_t>{'a', 0xe9, 'c'}, true)).ok());
  // Length beyond the readable data.
  EXPECT_FALSE(Str(RawStr(o_, 8, StrState(1, true, true), abc, true)).ok());
  // Null and unmapped pointers.
  EXPECT_FALSE(ReadString(memory_, o_, 0, 1024).ok());
  EXPECT_FALSE(ReadString(memory_, o_, 0xdead0000, 1024).ok());
}

TEST_P(CodeObjectTest, ReadsTheCodeObject) {
  const CodeFields fields = Fields();
  MapCode(fields);
  Result<CodeObject> code = ReadCodeObject(memory_, o_, kCode);
  ASSERT_TRUE(code.ok()) << code.status().message();
  EXPECT_EQ(code->name, GetParam() >= 11 ? "Klass.method" : "method");
  EXPECT_EQ(code->filename, "/srv/app/models.py");
  EXPECT_EQ(code->first_line, 41);
  EXPECT_EQ(code->checksum, profkit_python_code_checksum(2, 1, 0x3, 41));
  EXPECT_EQ(code->line_table, kLocationTable312);
}

TEST_P(CodeObjectTest, ChecksumFollowsEveryField) {
  CodeFields fields = Fields();
  MapCode(fields);
  const uint16_t base = ReadCodeObject(memory_, o_, kCode)->checksum;
  for (int field = 0; field < 4; ++field) {
    CodeFields changed = fields;
    switch (field) {
      case 0:
        changed.argcount = 3;
        break;
      case 1:
        changed.kwonlyargcount = 0;
        break;
      case 2:
        changed.flags = 0x23;
        break;
      case 3:
        changed.firstlineno = 42;
        break;
    }
    memory_.Map(kCode, CodeObjectBytes(o_, changed));
    Result<CodeObject> code = ReadCodeObject(memory_, o_, kCode);
    ASSERT_TRUE(code.ok()) << code.status().message();
    EXPECT_EQ(code->checksum,
              profkit_python_code_checksum(changed.argcount, changed.kwonlyargcount, changed.flags,
                                           static_cast<uint32_t>(changed.firstlineno)));
    EXPECT_NE(code->checksum, base) << "field " << field;
  }
}

TEST_P(CodeObjectTest, NonAsciiNamesAndLongNamesAreCut) {
  MapCode(Fields());
  const std::string long_name(kMaxNameBytes + 100, 'n');
  memory_.Map(kName, AsciiStr(o_, long_name));
  memory_.Map(kQualname, AsciiStr(o_, long_name));
  memory_.Map(kFilename, CompactStr(o_, 2, {'/', 0x65e5, '.', 'p', 'y'}));
  Result<CodeObject> code = ReadCodeObject(memory_, o_, kCode);
  ASSERT_TRUE(code.ok()) << code.status().message();
  EXPECT_EQ(code->name, long_name.substr(0, kMaxNameBytes));
  EXPECT_EQ(code->filename, "/\xe6\x97\xa5.py");
}

TEST_P(CodeObjectTest, LineTableLimits) {
  // Exactly the limit is accepted, one byte more is not.
  const std::vector<uint8_t> at_limit(kMaxCodeLineTableBytes, 0x80);
  MapCode(Fields(), "f", "f", "/a.py", at_limit);
  Result<CodeObject> code = ReadCodeObject(memory_, o_, kCode);
  ASSERT_TRUE(code.ok()) << code.status().message();
  EXPECT_EQ(code->line_table.size(), kMaxCodeLineTableBytes);

  memory_.Map(kTable, BytesObject(o_, at_limit, kMaxCodeLineTableBytes + 1));
  EXPECT_FALSE(ReadCodeObject(memory_, o_, kCode).ok());
  memory_.Map(kTable, BytesObject(o_, kLocationTable312, -1));
  EXPECT_FALSE(ReadCodeObject(memory_, o_, kCode).ok());
  // A size that fits the limit but not the mapped bytes.
  memory_.Map(kTable, BytesObject(o_, kLocationTable312, 4096));
  EXPECT_FALSE(ReadCodeObject(memory_, o_, kCode).ok());
  memory_.Map(kTable, BytesObject(o_, {}));
  code = ReadCodeObject(memory_, o_, kCode);
  ASSERT_TRUE(code.ok()) << code.status().message();
  EXPECT_TRUE(code->line_table.empty());
}

TEST_P(CodeObjectTest, UnreadableMemoryIsAnError) {
  MapCode(Fields());
  EXPECT_FALSE(ReadCodeObject(memory_, o_, 0xdead0000).ok());
  // The struct is cut short.
  std::vector<uint8_t> truncated = CodeObjectBytes(o_, Fields());
  truncated.resize(o_.code_object.size - 1);
  memory_.Map(kCode, truncated);
  EXPECT_FALSE(ReadCodeObject(memory_, o_, kCode).ok());
  memory_.Map(kCode, CodeObjectBytes(o_, Fields()));
  ASSERT_TRUE(ReadCodeObject(memory_, o_, kCode).ok());

  // Each referenced object unreadable in turn; the error names what failed.
  const std::vector<std::pair<uint64_t, std::string>> referenced = {
      {GetParam() >= 11 ? kQualname : kName, "co_name"},
      {kFilename, "co_filename"},
      {kTable, "line table"}};
  for (const auto& [address, what] : referenced) {
    memory_.Unmap(address);
    Result<CodeObject> code = ReadCodeObject(memory_, o_, kCode);
    ASSERT_FALSE(code.ok()) << what;
    EXPECT_NE(code.status().message().find(what), std::string::npos) << code.status().message();
    MapCode(Fields());
  }
  CodeFields null_name = Fields();
  null_name.name = 0;
  null_name.qualname = 0;
  memory_.Map(kCode, CodeObjectBytes(o_, null_name));
  EXPECT_FALSE(ReadCodeObject(memory_, o_, kCode).ok());
}

TEST_P(CodeObjectTest, UnusableCodeObjectSize) {
  MapCode(Fields());
  CPythonOffsets o = o_;
  o.code_object.size = kNoOffset;
  EXPECT_FALSE(ReadCodeObject(memory_, o, kCode).ok());
}

INSTANTIATE_TEST_SUITE_P(Versions, CodeObjectTest, ::testing::Values(8, 9, 10, 11, 12),
                         [](const auto& info) { return "Python3_" + std::to_string(info.param); });

// A lone surrogate (CPython's surrogateescape of an undecodable file name byte) must not come out
// as invalid UTF-8: names and file names end up in the profile's protobuf strings.
TEST(ReadStringTest, LoneSurrogateDoesNotProduceInvalidUtf8) {
  const CPythonOffsets o = *BuiltinOffsets(3, 12);
  FakeMemory memory;
  memory.Map(kStr, CompactStr(o, 2, {'a', 0xdcff, 'b'}));
  Result<std::string> s = ReadString(memory, o, kStr, 1024);
  if (s.ok()) {
    EXPECT_EQ(s->find("\xed\xb3\xbf"), std::string::npos)
        << "surrogate U+DCFF encoded as the UTF-8 bytes ED B3 BF (invalid UTF-8)";
  }
}

TEST(CodeObjectLineOfTest, LocationTable) {
  CodeObject code{
      .name = "f", .filename = "/a.py", .first_line = 1, .line_table = kLocationTable312};
  // Instruction indexes are code units (2 bytes) of co_code_adaptive.
  const std::vector<std::pair<int64_t, int32_t>> expected = {{0, 1},  {1, 2},  {5, 2},  {6, 3},
                                                             {10, 3}, {11, 4}, {15, 4}, {16, 5}};
  for (const auto& [instruction, line] : expected) {
    EXPECT_EQ(code.LineOf(LineTableFormat::kLocationTable, instruction), line) << instruction;
  }
  // No line known: before the first instruction, past the table, a malformed table.
  EXPECT_EQ(code.LineOf(LineTableFormat::kLocationTable, -1), 1);
  EXPECT_EQ(code.LineOf(LineTableFormat::kLocationTable, 17), 1);
  EXPECT_EQ(code.LineOf(LineTableFormat::kLocationTable, 1 << 30), 1);
  // Lines are relative to co_firstlineno.
  code.first_line = 101;
  EXPECT_EQ(code.LineOf(LineTableFormat::kLocationTable, 11), 104);
  code.line_table = {0x80};  // an entry cut in the middle
  EXPECT_EQ(code.LineOf(LineTableFormat::kLocationTable, 3), 101);
}

TEST(CodeObjectLineOfTest, Linetable310) {
  // The same function's 3.10 co_linetable; co_lines(): [(0, 8, 2), (8, 16, 3), (16, 24, 4),
  // (24, 28, 5)] in bytes, instruction indexes in code units.
  CodeObject code{.first_line = 1, .line_table = {0x08, 0x01, 0x08, 0x01, 0x08, 0x01, 0x04, 0x01}};
  const std::vector<std::pair<int64_t, int32_t>> expected = {{0, 2}, {3, 2},  {4, 3}, {7, 3},
                                                             {8, 4}, {12, 5}, {13, 5}};
  for (const auto& [instruction, line] : expected) {
    EXPECT_EQ(code.LineOf(LineTableFormat::kLinetable310, instruction), line) << instruction;
  }
  EXPECT_EQ(code.LineOf(LineTableFormat::kLinetable310, 14), 1);
}

TEST(CodeObjectLineOfTest, Lnotab) {
  // The same function's 3.8 co_lnotab; dis.findlinestarts(): [(0, 2), (8, 3), (16, 4), (24, 5)],
  // instruction indexes (f_lasti) in bytes. The last line covers everything after its start.
  CodeObject code{.first_line = 1, .line_table = {0x00, 0x01, 0x08, 0x01, 0x08, 0x01, 0x08, 0x01}};
  const std::vector<std::pair<int64_t, int32_t>> expected = {{0, 2},  {6, 2},  {8, 3},
                                                             {16, 4}, {24, 5}, {26, 5}};
  for (const auto& [instruction, line] : expected) {
    EXPECT_EQ(code.LineOf(LineTableFormat::kLnotab, instruction), line) << instruction;
  }
}

}  // namespace
}  // namespace profkit::python
