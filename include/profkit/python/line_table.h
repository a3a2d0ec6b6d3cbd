// Source lines of CPython bytecode, decoded from a code object's line table the way the interpreter
// itself does it (PyCode_Addr2Line / co_lines()), for CPython 3.8–3.15.
//
// Inputs come from another process's memory and are untrusted: every function here is bounded by
// the table size, never reads past it, and reports malformed tables as errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::python {

// Real tables are a few KiB (the largest standard-library functions stay far below 64 KiB);
// anything beyond this is a corrupted read, not a code object, and is rejected with an error.
inline constexpr size_t kMaxLineTableBytes = size_t{1} << 20;

// Which table a code object carries and what unit an instruction index is in.
enum class LineTableFormat {
  // 3.8, 3.9: `co_lnotab`, pairs (u8 byte increment, i8 line increment). Instruction index =
  // `PyFrameObject.f_lasti` in BYTES.
  kLnotab,
  // 3.10: `co_linetable`, pairs (u8 range length in bytes, i8 line delta, -128 = no line).
  // Instruction index = `PyFrameObject.f_lasti` in CODE UNITS (2 bytes).
  kLinetable310,
  // 3.11+: `co_linetable` location table (PEP 657). Instruction index = code units from the
  // start of `co_code_adaptive` to `prev_instr` (3.11, 3.12) or `instr_ptr` (3.13+). 3.14 and
  // 3.15 keep the 3.11 format (checked against their co_lines() in tests/unit/python_line_table).
  kLocationTable,
};

// The format used by CPython `major.minor`; an error for versions before 3.8 and for 3.16+, whose
// tables are not known to match.
Result<LineTableFormat> LineTableFormatForVersion(int major, int minor);

// One table as read from a code object. It only views `bytes`, which must outlive it.
struct LineTable {
  LineTableFormat format;
  int32_t first_line;  // co_firstlineno
  std::span<const uint8_t> bytes;
};

// The source line CPython reports for the instruction at `instruction_index` (unit per
// LineTableFormat). A negative index (frame created, nothing executed yet) gives `first_line`, as
// in CPython. std::nullopt means CPython itself has no line for that instruction (a 3.10+ "no line"
// range, or an index past the end of a 3.10+ table).
Result<std::optional<int32_t>> LineForInstruction(const LineTable& table,
                                                  int64_t instruction_index);

// A run of bytecode with one line, like an item of `code.co_lines()`.
struct LineRange {
  // Byte offsets into the bytecode, [start, end). Zero-length entries of a table are not reported.
  uint64_t start;
  uint64_t end;
  std::optional<int32_t> line;  // nullopt: no line

  friend bool operator==(const LineRange&, const LineRange&) = default;
};

// `end` of the last range of a kLnotab table, which does not record where the bytecode ends: the
// last line covers everything after its start.
inline constexpr uint64_t kOpenEnd = UINT64_MAX;

// All ranges of the table in bytecode order; adjacent ranges are not merged, so the list mirrors
// the table's entries.
Result<std::vector<LineRange>> DecodeLineRanges(const LineTable& table);

}  // namespace profkit::python
