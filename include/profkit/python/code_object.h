// Reading a CPython code object (PyCodeObject) out of another process: its name, file, first line
// and line table, which with an instruction index give the exact source line. Everything read is
// untrusted (the object may be freed and reused while we read): sizes are bounded, strings are
// validated, and the caller compares the checksum with the one BPF computed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/python/line_table.h"
#include "profkit/python/offsets.h"
#include "profkit/python/process_memory.h"

namespace profkit::python {

// Function and file names beyond this are cut (at a UTF-8 boundary); real ones are far shorter.
inline constexpr size_t kMaxNameBytes = 1024;
inline constexpr size_t kMaxFilenameBytes = 4096;
// Line tables of real functions are a few KiB (OTel rejects 64 KiB and more); larger is garbage.
inline constexpr size_t kMaxCodeLineTableBytes = 256 << 10;

struct CodeObject {
  std::string name;      // co_qualname (3.11+) or co_name
  std::string filename;  // co_filename
  int32_t first_line = 0;
  uint16_t checksum = 0;  // profkit_python_code_checksum of the object as read
  std::vector<uint8_t> line_table;

  // The source line of `instruction` (units of `format`); co_firstlineno where CPython has no
  // line (NONE entries, an index past the table, a malformed table).
  int32_t LineOf(LineTableFormat format, int64_t instruction) const;
};

Result<CodeObject> ReadCodeObject(const MemoryReader& memory, const CPythonOffsets& offsets,
                                  uint64_t address);

// A compact str object (the only kind code objects hold) as UTF-8, cut to max_bytes.
Result<std::string> ReadString(const MemoryReader& memory, const CPythonOffsets& offsets,
                               uint64_t address, size_t max_bytes);

}  // namespace profkit::python
