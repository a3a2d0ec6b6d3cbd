// A file's unwind table: its call frame information (.eh_frame, else .debug_frame) reduced to the
// rules the BPF stack walker follows, by address (struct profkit_unwind_info,
// include/profkit/bpf_abi.h); packed_unwind_table.h cuts it into the walker's pages and rows.
// Pure: reads the file through libelf/libdw, no BPF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "profkit/bpf_abi.h"
#include "profkit/common/status.h"

typedef struct Elf Elf;

namespace profkit::unwind {

// Bounds on what one file may produce: CFI comes from any container image.
struct UnwindTableLimits {
  // Rows kept per file (libc: ~24k before merging, a large C++ binary: a few hundred thousand).
  size_t max_rows = size_t{1} << 22;
  // FDEs read per file.
  size_t max_fdes = size_t{1} << 21;
  // Rows one FDE may contribute; longer FDEs (hostile) are cut to a row saying UNSUPPORTED.
  size_t max_rows_per_fde = 1 << 16;
  // The largest .eh_frame / .debug_frame read (libelf copies it whole to the heap; decompressed
  // size for a compressed one); a larger one is refused, counted in build_failures. Config
  // [symbols] max_section_mb.
  uint64_t max_section_bytes = 512ULL << 20;
};

// An executable PT_LOAD segment: how a mapping's addresses translate to the rows' file addresses.
struct LoadSegment {
  uint64_t offset;  // p_offset
  uint64_t vaddr;   // p_vaddr
  uint64_t size;    // p_filesz
};

// From file address `pc` on (until the next row's), the caller's frame is found by `info`.
struct UnwindRow {
  uint32_t pc;
  profkit_unwind_info info;
};

inline bool SameRule(const profkit_unwind_info& a, const profkit_unwind_info& b) {
  return a.kind == b.kind && a.rbp_offset == b.rbp_offset && a.cfa_offset == b.cfa_offset;
}

struct UnwindTable {
  // Sorted by pc, adjacent rows differ; the last row is PROFKIT_UNWIND_NONE (past the last FDE).
  std::vector<UnwindRow> rows;
  // Where the rows came from, for logs: ".eh_frame", ".debug_frame".
  std::string source;
  size_t fde_count = 0;
  // FDEs left out: undecodable, overlapping another, or outside 32-bit addresses.
  size_t skipped_fdes = 0;
  std::vector<LoadSegment> segments;
};

// The load bias of a mapping of file bytes from `file_offset` at `start`: a row's pc plus the bias
// is the address in the process. nullopt when no executable segment holds that offset.
std::optional<uint64_t> LoadBias(const std::vector<LoadSegment>& segments, uint64_t start,
                                 uint64_t file_offset);

// An ELF file opened read-only for BuildUnwindTable (libelf maps it); closed when destroyed.
class ElfFile {
 public:
  // kInvalidInput when it is not an ELF file.
  static Result<ElfFile> Open(const std::string& path);
  ElfFile(ElfFile&& other) noexcept;
  ElfFile& operator=(ElfFile&&) = delete;
  ElfFile(const ElfFile&) = delete;
  ~ElfFile();
  Elf* elf() const { return elf_; }
  // Lowercase hex of its NT_GNU_BUILD_ID note; "" when it has none (or an implausible one).
  std::string BuildId() const;

 private:
  ElfFile(int fd, Elf* elf) : fd_(fd), elf_(elf) {}
  int fd_;
  Elf* elf_;
};

// Builds the table of the ELF file at `path`. kNotFound when the file has no CFI (the walker then
// uses frame pointers for it), kInvalidInput when it is not an ELF file, kTooLarge past `limits`.
Result<UnwindTable> BuildUnwindTable(const std::string& path, const UnwindTableLimits& limits = {});
// The same from an open ELF handle (not consumed).
Result<UnwindTable> BuildUnwindTable(Elf* elf, const UnwindTableLimits& limits = {});

// The row covering `pc` (a file address), the way the BPF walker finds it: the last row whose pc
// is <= `pc`; nullptr below the first row. A PROFKIT_UNWIND_NONE row means no CFI covers `pc`.
const UnwindRow* FindUnwindRow(std::span<const UnwindRow> rows, uint64_t pc);

}  // namespace profkit::unwind
