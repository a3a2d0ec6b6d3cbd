// Where unwind tables go: the BPF maps the native walker reads (bpf/native_unwinder.bpf.h). An
// interface so the table management above it (native_unwind_tables.h) runs without BPF in tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "profkit/bpf_abi.h"
#include "profkit/common/status.h"

namespace profkit::unwind {

class UnwindMaps {
 public:
  virtual ~UnwindMaps() = default;
  // Entries the row and page arrays hold (their sizes are fixed when the BPF programs load). Rows
  // go in pairs (struct profkit_unwind_row_pair): the row capacity is even, and rows are written
  // from an even index, an even number at a time.
  virtual size_t row_capacity() const = 0;
  virtual size_t page_capacity() const = 0;
  // Writes rows[i] at index first_row + i of unwind_rows; pages and infos likewise.
  virtual Status WriteRows(uint32_t first_row, std::span<const profkit_unwind_row> rows) = 0;
  virtual Status WritePages(uint32_t first_page, std::span<const profkit_unwind_page> pages) = 0;
  virtual Status WriteInfos(uint32_t first_info, std::span<const profkit_unwind_info> infos) = 0;
  // Read back what was written: out.size() entries from index `first` (one table's page and the
  // rows of that page, for UnwindTableStore::LoadedRule).
  virtual Status ReadRows(uint32_t first_row, std::span<profkit_unwind_row> out) const = 0;
  virtual Status ReadPages(uint32_t first_page, std::span<profkit_unwind_page> out) const = 0;
  virtual Status ReadInfo(uint32_t index, profkit_unwind_info& out) const = 0;
  // Makes the walker unwind `pid` with these mappings (replacing what it had).
  virtual Status SetProcess(uint32_t pid, const profkit_unwind_process& process) = 0;
  // The walker goes back to bpf_get_stack() for `pid`; unknown pids are ignored.
  virtual void RemoveProcess(uint32_t pid) = 0;
};

}  // namespace profkit::unwind
