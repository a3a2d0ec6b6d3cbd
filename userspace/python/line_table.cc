#include "profkit/python/line_table.h"

#include <limits>

namespace profkit::python {
namespace {

// The 3.10 line delta that marks a range without a line number.
constexpr int8_t kNoLineDelta310 = -128;
// 3.11+ entry codes (bits 3-6 of an entry's first byte).
constexpr int kCodeOneLineFirst = 10;  // codes 10..12: line delta = code - 10
constexpr int kCodeOneLineLast = 12;
constexpr int kCodeNoColumns = 13;  // signed varint line delta
constexpr int kCodeLong = 14;       // signed varint line delta, then end line and columns
constexpr int kCodeNone = 15;       // no line; the running line is kept
constexpr uint8_t kEntryStartBit = 0x80;
constexpr uint8_t kVarintMoreBit = 0x40;
constexpr uint8_t kVarintValueMask = 0x3f;
constexpr int kVarintBitsPerByte = 6;
// CPython writes varints of 32-bit unsigned ints: at most ceil(32 / 6) = 6 bytes. A longer one is
// corrupt, and the cap keeps the value within 36 bits.
constexpr int kMaxVarintBytes = 6;
constexpr uint64_t kCodeUnitBytes = 2;

// Keeps the running line inside int32_t, the type CPython uses; beyond that the table is corrupt.
Status AddLineDelta(int64_t delta, int64_t& line) {
  line += delta;
  if (line < std::numeric_limits<int32_t>::min() || line > std::numeric_limits<int32_t>::max()) {
    return Status::InvalidInputf("line number {} out of range", line);
  }
  return Status::Ok();
}

// Reads the signed varint of a 3.11+ entry starting at `pos`; varint bytes never have bit 7 set, so
// meeting one (the next entry) or the end of the table means the entry was truncated.
Result<int64_t> ReadSignedVarint(std::span<const uint8_t> bytes, size_t pos) {
  uint64_t value = 0;
  for (int i = 0; i < kMaxVarintBytes; ++i, ++pos) {
    if (pos >= bytes.size() || (bytes[pos] & kEntryStartBit) != 0) {
      return Status::InvalidInputf("truncated varint at byte {}", pos);
    }
    value |= static_cast<uint64_t>(bytes[pos] & kVarintValueMask) << (kVarintBitsPerByte * i);
    if ((bytes[pos] & kVarintMoreBit) == 0) {
      const int64_t magnitude = static_cast<int64_t>(value >> 1);
      return (value & 1) != 0 ? -magnitude : magnitude;
    }
  }
  return Status::InvalidInputf("varint at byte {} longer than {} bytes", pos - kMaxVarintBytes,
                               kMaxVarintBytes);
}

// Calls `visit(range)` for every range of non-zero length in table order until it returns true
// (found). Each format follows CPython's own walk (3.8 PyCode_Addr2Line, 3.10/3.11+
// _PyLineTable_NextAddressRange): a "no line" entry never changes the running line.
template <typename Visitor>
Status WalkRanges(const LineTable& table, Visitor&& visit) {
  const std::span<const uint8_t> bytes = table.bytes;
  if (bytes.size() > kMaxLineTableBytes) {
    return Status::TooLargef("line table of {} bytes exceeds the limit of {} bytes", bytes.size(),
                             kMaxLineTableBytes);
  }
  int64_t line = table.first_line;
  uint64_t end = 0;
  switch (table.format) {
    case LineTableFormat::kLnotab: {
      if (bytes.size() % 2 != 0) return Status::InvalidInputf("odd lnotab size {}", bytes.size());
      // An increment pair applies its line delta to the bytes after its address, so a range ends
      // where the next non-zero byte increment starts.
      for (size_t i = 0; i < bytes.size(); i += 2) {
        const uint8_t addr_inc = bytes[i];
        if (addr_inc != 0) {
          const uint64_t start = end;
          end += addr_inc;
          if (visit(LineRange{start, end, static_cast<int32_t>(line)})) return Status::Ok();
        }
        PROFKIT_RETURN_IF_ERROR(AddLineDelta(static_cast<int8_t>(bytes[i + 1]), line));
      }
      visit(LineRange{end, kOpenEnd, static_cast<int32_t>(line)});
      return Status::Ok();
    }
    case LineTableFormat::kLinetable310: {
      if (bytes.size() % 2 != 0)
        return Status::InvalidInputf("odd 3.10 linetable size {}", bytes.size());
      for (size_t i = 0; i < bytes.size(); i += 2) {
        const uint64_t start = end;
        end += bytes[i];
        const auto delta = static_cast<int8_t>(bytes[i + 1]);
        std::optional<int32_t> this_line;
        if (delta != kNoLineDelta310) {
          PROFKIT_RETURN_IF_ERROR(AddLineDelta(delta, line));
          this_line = static_cast<int32_t>(line);
        }
        if (start != end && visit(LineRange{start, end, this_line})) return Status::Ok();
      }
      return Status::Ok();
    }
    case LineTableFormat::kLocationTable: {
      size_t pos = 0;
      while (pos < bytes.size()) {
        const uint8_t first = bytes[pos];
        if ((first & kEntryStartBit) == 0) {
          return Status::InvalidInputf("location entry at byte {} lacks the start bit (0x{:02x})",
                                       pos, first);
        }
        const int code = (first >> 3) & 0xf;
        const uint64_t start = end;
        end += ((first & 7) + 1) * kCodeUnitBytes;
        std::optional<int32_t> this_line;
        if (code != kCodeNone) {
          int64_t delta = 0;
          if (code == kCodeNoColumns || code == kCodeLong) {
            PROFKIT_ASSIGN_OR_RETURN(delta, ReadSignedVarint(bytes, pos + 1));
          } else if (code >= kCodeOneLineFirst && code <= kCodeOneLineLast) {
            delta = code - kCodeOneLineFirst;
          }
          PROFKIT_RETURN_IF_ERROR(AddLineDelta(delta, line));
          this_line = static_cast<int32_t>(line);
        }
        // The entry's remaining bytes (columns, end line) are not needed: skip to the next start.
        do {
          ++pos;
        } while (pos < bytes.size() && (bytes[pos] & kEntryStartBit) == 0);
        if (visit(LineRange{start, end, this_line})) return Status::Ok();
      }
      return Status::Ok();
    }
  }
  return Status::Unsupportedf("unknown line table format {}", static_cast<int>(table.format));
}

}  // namespace

Result<LineTableFormat> LineTableFormatForVersion(int major, int minor) {
  if (major == 3 && minor >= 8 && minor <= 9) return LineTableFormat::kLnotab;
  if (major == 3 && minor == 10) return LineTableFormat::kLinetable310;
  if (major == 3 && minor >= 11 && minor <= 15) return LineTableFormat::kLocationTable;
  return Status::Unsupportedf("no line table support for Python {}.{}", major, minor);
}

Result<std::optional<int32_t>> LineForInstruction(const LineTable& table,
                                                  int64_t instruction_index) {
  if (instruction_index < 0) return std::optional<int32_t>(table.first_line);
  // Byte offsets stay far below 2^63 for any index a 32-bit frame field can hold.
  const uint64_t address = table.format == LineTableFormat::kLnotab
                               ? static_cast<uint64_t>(instruction_index)
                               : static_cast<uint64_t>(instruction_index) * kCodeUnitBytes;
  std::optional<int32_t> found;
  Status status = WalkRanges(table, [&](const LineRange& range) {
    if (range.start <= address && address < range.end) {
      found = range.line;
      return true;
    }
    return false;
  });
  if (!status.ok()) return status.WithContext("decoding line table");
  return found;
}

Result<std::vector<LineRange>> DecodeLineRanges(const LineTable& table) {
  std::vector<LineRange> ranges;
  Status status = WalkRanges(table, [&](const LineRange& range) {
    ranges.push_back(range);
    return false;
  });
  if (!status.ok()) return status.WithContext("decoding line table");
  return ranges;
}

}  // namespace profkit::python
