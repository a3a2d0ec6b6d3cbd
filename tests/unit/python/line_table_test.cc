// Hand-built tables: each format's rules, and malformed input that must fail cleanly.
#include "profkit/python/line_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace profkit::python {

// Readable failure messages (found by gtest through argument-dependent lookup).
void PrintTo(const LineRange& range, std::ostream* out) {
  *out << "[" << range.start << ", " << range.end << ") line "
       << (range.line ? std::to_string(*range.line) : "None");
}

namespace {

using Bytes = std::vector<uint8_t>;

LineTable Table(LineTableFormat format, int32_t first_line, const Bytes& bytes) {
  return LineTable{format, first_line, bytes};
}

std::optional<int32_t> Line(const LineTable& table, int64_t index) {
  Result<std::optional<int32_t>> line = LineForInstruction(table, index);
  EXPECT_TRUE(line.ok()) << line.status().message();
  return line.ok() ? *line : std::optional<int32_t>(-999999);
}

std::vector<LineRange> Ranges(const LineTable& table) {
  Result<std::vector<LineRange>> ranges = DecodeLineRanges(table);
  EXPECT_TRUE(ranges.ok()) << ranges.status().message();
  return ranges.ok() ? *ranges : std::vector<LineRange>{};
}

// 3.11+ entry first byte: start bit, code in bits 3-6, length-1 in code units in bits 0-2.
uint8_t EntryStart(int code, int length_units) {
  return static_cast<uint8_t>(0x80 | (code << 3) | (length_units - 1));
}

void AppendSignedVarint(int64_t value, Bytes& out) {
  uint64_t bits =
      value < 0 ? (static_cast<uint64_t>(-value) << 1) | 1 : static_cast<uint64_t>(value) << 1;
  while (bits >= 0x40) {
    out.push_back(static_cast<uint8_t>(0x40 | (bits & 0x3f)));
    bits >>= 6;
  }
  out.push_back(static_cast<uint8_t>(bits));
}

TEST(LineTableFormatTest, MapsSupportedVersionsOnly) {
  EXPECT_EQ(*LineTableFormatForVersion(3, 8), LineTableFormat::kLnotab);
  EXPECT_EQ(*LineTableFormatForVersion(3, 9), LineTableFormat::kLnotab);
  EXPECT_EQ(*LineTableFormatForVersion(3, 10), LineTableFormat::kLinetable310);
  EXPECT_EQ(*LineTableFormatForVersion(3, 11), LineTableFormat::kLocationTable);
  EXPECT_EQ(*LineTableFormatForVersion(3, 13), LineTableFormat::kLocationTable);
  EXPECT_EQ(*LineTableFormatForVersion(3, 14), LineTableFormat::kLocationTable);
  EXPECT_EQ(*LineTableFormatForVersion(3, 15), LineTableFormat::kLocationTable);
  for (auto [major, minor] : {std::pair{3, 7}, {3, 16}, {2, 7}, {4, 0}}) {
    Result<LineTableFormat> format = LineTableFormatForVersion(major, minor);
    ASSERT_FALSE(format.ok());
    EXPECT_NE(format.status().message().find("no line table support"), std::string::npos);
  }
}

TEST(LnotabTest, SignedDeltasAndZeroIncrements) {
  // [0,4) line 10; +1 then -2 at address 4 (no bytes between); [4,10) line 9; then +3.
  const Bytes bytes = {4, 1, 0, 0xfe, 6, 3};
  const LineTable table = Table(LineTableFormat::kLnotab, 10, bytes);
  EXPECT_EQ(Line(table, -1), 10);
  EXPECT_EQ(Line(table, 0), 10);
  EXPECT_EQ(Line(table, 3), 10);
  EXPECT_EQ(Line(table, 4), 9);
  EXPECT_EQ(Line(table, 9), 9);
  EXPECT_EQ(Line(table, 10), 12);
  EXPECT_EQ(Line(table, 100000), 12);
  EXPECT_EQ(Ranges(table), (std::vector<LineRange>{{0, 4, 10}, {4, 10, 9}, {10, kOpenEnd, 12}}));
}

TEST(LnotabTest, NegativeJumpAcrossSeveralPairs) {
  // -300 lines needs three pairs (-128, -128, -44), the first two with a zero byte increment.
  const Bytes bytes = {2, 0x80, 0, 0x80, 0, static_cast<uint8_t>(-44), 2, 1};
  const LineTable table = Table(LineTableFormat::kLnotab, 400, bytes);
  EXPECT_EQ(Line(table, 0), 400);
  EXPECT_EQ(Line(table, 2), 100);
  EXPECT_EQ(Line(table, 4), 101);
}

TEST(LnotabTest, EmptyTableIsTheFirstLineEverywhere) {
  const LineTable table{LineTableFormat::kLnotab, 7, {}};
  EXPECT_EQ(Line(table, 0), 7);
  EXPECT_EQ(Line(table, 50), 7);
  EXPECT_EQ(Ranges(table), (std::vector<LineRange>{{0, kOpenEnd, 7}}));
}

TEST(Linetable310Test, NoLineRangesKeepTheRunningLine) {
  // [0,4) 21; [4,6) no line; zero-length +5; [6,12) 26-2 = 24.
  const Bytes bytes = {4, 1, 2, 0x80, 0, 5, 6, 0xfe};
  const LineTable table = Table(LineTableFormat::kLinetable310, 20, bytes);
  EXPECT_EQ(Line(table, -1), 20);
  EXPECT_EQ(Line(table, 0), 21);  // code units: byte 0
  EXPECT_EQ(Line(table, 1), 21);
  EXPECT_EQ(Line(table, 2), std::nullopt);
  EXPECT_EQ(Line(table, 3), 24);
  EXPECT_EQ(Line(table, 5), 24);
  EXPECT_EQ(Line(table, 6), std::nullopt);  // past the end
  EXPECT_EQ(Ranges(table), (std::vector<LineRange>{{0, 4, 21}, {4, 6, std::nullopt}, {6, 12, 24}}));
}

TEST(Linetable310Test, EmptyTableHasNoLines) {
  const LineTable table{LineTableFormat::kLinetable310, 3, {}};
  EXPECT_EQ(Line(table, 0), std::nullopt);
  EXPECT_EQ(Line(table, -1), 3);
  EXPECT_TRUE(Ranges(table).empty());
}

TEST(LocationTableTest, AllEntryFormsAndNoneDoesNotResetTheLine) {
  Bytes bytes;
  bytes.push_back(EntryStart(15, 1));  // [0,2) no line
  bytes.push_back(EntryStart(13, 2));  // [2,6) +300 = 400
  AppendSignedVarint(300, bytes);
  bytes.push_back(EntryStart(15, 1));  // [6,8) no line
  bytes.push_back(EntryStart(3, 1));   // [8,10) short form: 400
  bytes.push_back(0x12);
  bytes.push_back(EntryStart(14, 1));  // [10,12) long form: -350 = 50
  AppendSignedVarint(-350, bytes);
  AppendSignedVarint(2, bytes);        // end line delta
  AppendSignedVarint(5, bytes);        // start column + 1
  AppendSignedVarint(90, bytes);       // end column + 1
  bytes.push_back(EntryStart(12, 8));  // [12,28) one-line form: +2 = 52
  bytes.push_back(4);
  bytes.push_back(9);
  const LineTable table = Table(LineTableFormat::kLocationTable, 100, bytes);
  EXPECT_EQ(Line(table, -1), 100);
  EXPECT_EQ(Line(table, 0), std::nullopt);
  EXPECT_EQ(Line(table, 1), 400);
  EXPECT_EQ(Line(table, 3), std::nullopt);
  EXPECT_EQ(Line(table, 4), 400);
  EXPECT_EQ(Line(table, 5), 50);
  EXPECT_EQ(Line(table, 6), 52);
  EXPECT_EQ(Line(table, 13), 52);
  EXPECT_EQ(Line(table, 14), std::nullopt);
  EXPECT_EQ(Ranges(table), (std::vector<LineRange>{{0, 2, std::nullopt},
                                                   {2, 6, 400},
                                                   {6, 8, std::nullopt},
                                                   {8, 10, 400},
                                                   {10, 12, 50},
                                                   {12, 28, 52}}));
}

TEST(LocationTableTest, MultiByteVarints) {
  Bytes bytes;
  bytes.push_back(EntryStart(13, 1));
  AppendSignedVarint(70000, bytes);  // 3 bytes
  ASSERT_EQ(bytes.size(), 4u);
  bytes.push_back(EntryStart(13, 1));
  AppendSignedVarint(-69999, bytes);
  const LineTable table = Table(LineTableFormat::kLocationTable, 1, bytes);
  EXPECT_EQ(Line(table, 0), 70001);
  EXPECT_EQ(Line(table, 1), 2);
}

TEST(LocationTableTest, EmptyTableHasNoLines) {
  const LineTable table{LineTableFormat::kLocationTable, 3, {}};
  EXPECT_EQ(Line(table, 0), std::nullopt);
  EXPECT_TRUE(Ranges(table).empty());
}

void ExpectError(const LineTable& table, int64_t index, const std::string& fragment) {
  Result<std::optional<int32_t>> line = LineForInstruction(table, index);
  ASSERT_FALSE(line.ok());
  EXPECT_NE(line.status().message().find(fragment), std::string::npos) << line.status().message();
  Result<std::vector<LineRange>> ranges = DecodeLineRanges(table);
  ASSERT_FALSE(ranges.ok());
  EXPECT_NE(ranges.status().message().find(fragment), std::string::npos)
      << ranges.status().message();
}

TEST(MalformedTest, TruncatedPairTables) {
  ExpectError(Table(LineTableFormat::kLnotab, 1, {2, 1, 2}), 0, "odd lnotab size 3");
  ExpectError(Table(LineTableFormat::kLinetable310, 1, {2}), 0, "odd 3.10 linetable size 1");
}

TEST(MalformedTest, TruncatedOrOverlongVarints) {
  // Continuation bit set on the last byte of the table.
  ExpectError(Table(LineTableFormat::kLocationTable, 1, {EntryStart(13, 1), 0x58}), 0,
              "truncated varint at byte 2");
  // Entry code 13 with no varint at all.
  ExpectError(Table(LineTableFormat::kLocationTable, 1, {EntryStart(13, 1)}), 0,
              "truncated varint at byte 1");
  // Varint runs into the next entry's start byte.
  ExpectError(
      Table(LineTableFormat::kLocationTable, 1, {EntryStart(14, 1), 0x41, EntryStart(0, 1)}), 0,
      "truncated varint at byte 2");
  Bytes overlong = {EntryStart(13, 1)};
  overlong.insert(overlong.end(), 7, 0x7f);
  ExpectError(Table(LineTableFormat::kLocationTable, 1, overlong), 0,
              "varint at byte 1 longer than 6 bytes");
}

TEST(MalformedTest, TableNotStartingWithAnEntry) {
  ExpectError(Table(LineTableFormat::kLocationTable, 1, {0x05, EntryStart(0, 1), 0}), 0,
              "location entry at byte 0 lacks the start bit (0x05)");
}

TEST(MalformedTest, LineOutOfInt32Range) {
  const int32_t max = std::numeric_limits<int32_t>::max();
  const Bytes lnotab_bytes = {2, 10, 2, 0};
  const LineTable lnotab = Table(LineTableFormat::kLnotab, max - 5, lnotab_bytes);
  EXPECT_EQ(Line(lnotab, 0), max - 5);  // found before the bad entry
  ExpectError(lnotab, 2, "line number 2147483652 out of range");

  ExpectError(Table(LineTableFormat::kLinetable310, max, {2, 1}), 0, "out of range");

  Bytes bytes = {EntryStart(13, 1)};
  AppendSignedVarint(-(int64_t{1} << 34), bytes);
  ExpectError(Table(LineTableFormat::kLocationTable, 0, bytes), 0, "out of range");
}

TEST(MalformedTest, SizeLimit) {
  // Exactly at the limit is decoded: short entries of one code unit each.
  Bytes bytes(kMaxLineTableBytes);
  for (size_t i = 0; i < bytes.size(); i += 2) {
    bytes[i] = EntryStart(0, 1);
    bytes[i + 1] = 0;
  }
  const int64_t entries = static_cast<int64_t>(kMaxLineTableBytes / 2);
  EXPECT_EQ(Line(Table(LineTableFormat::kLocationTable, 5, bytes), entries - 1), 5);
  EXPECT_EQ(Line(Table(LineTableFormat::kLocationTable, 5, bytes), entries), std::nullopt);
  EXPECT_EQ(Ranges(Table(LineTableFormat::kLocationTable, 5, bytes)).size(),
            static_cast<size_t>(entries));

  bytes.push_back(EntryStart(0, 1));
  bytes.push_back(0);
  for (LineTableFormat format : {LineTableFormat::kLnotab, LineTableFormat::kLinetable310,
                                 LineTableFormat::kLocationTable}) {
    ExpectError(Table(format, 1, bytes), 0, "exceeds the limit of 1048576 bytes");
  }
}

// Random bytes in every format: decoding never crashes or reads out of bounds (the sanitizer build
// checks that), and when a table decodes, each lookup agrees with its ranges.
TEST(MalformedTest, RandomTablesAreBoundedAndConsistent) {
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> size(0, 64);
  for (int round = 0; round < 3000; ++round) {
    Bytes bytes(size(random));
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(byte(random));
    for (LineTableFormat format : {LineTableFormat::kLnotab, LineTableFormat::kLinetable310,
                                   LineTableFormat::kLocationTable}) {
      const LineTable table = Table(format, 1000, bytes);
      Result<std::vector<LineRange>> ranges = DecodeLineRanges(table);
      if (!ranges.ok()) continue;
      const int64_t unit = format == LineTableFormat::kLnotab ? 1 : 2;
      for (const LineRange& range : *ranges) {
        ASSERT_LT(range.start, range.end);
        const uint64_t last = range.end == kOpenEnd ? range.start + 4 : range.end;
        // Byte ranges of random tables may start at odd offsets; only unit-aligned ones are
        // instruction addresses.
        for (uint64_t address = range.start + range.start % unit; address < last; address += unit) {
          Result<std::optional<int32_t>> line =
              LineForInstruction(table, static_cast<int64_t>(address) / unit);
          ASSERT_TRUE(line.ok()) << line.status().message();
          EXPECT_EQ(*line, range.line);
        }
      }
    }
  }
}

}  // namespace
}  // namespace profkit::python
