// The unwind-table builder (unwind::BuildUnwindTable): .eh_frame / .debug_frame of any mapped
// file turned into rules by address, looked up as the pipeline does, and packed into the pages
// and rows the BPF unwinder walks (unwind::PackUnwindTable), which must give the same rules. The
// input is the whole ELF file, read from memory by libelf.
#include <gelf.h>
#include <libelf.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "fuzz_support.h"
#include "profkit/unwind/packed_unwind_table.h"
#include "profkit/unwind/unwind_table.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  elf_version(EV_CURRENT);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // elf_memory may write to the image (it does not with ELF_C_READ_MMAP semantics, but takes a
  // non-const pointer): give it a copy.
  std::vector<char> image(data, data + size);
  Elf* elf = elf_memory(image.data(), image.size());
  if (elf == nullptr) return 0;
  std::unique_ptr<Elf, decltype(&elf_end)> owner(elf, &elf_end);
  // Small limits so a table that claims millions of rows stops at the bound quickly.
  profkit::unwind::UnwindTableLimits limits;
  limits.max_rows = 1 << 16;
  limits.max_fdes = 1 << 14;
  limits.max_rows_per_fde = 1 << 12;
  auto table = profkit::unwind::BuildUnwindTable(elf, limits);
  if (table.ok()) {
    for (const uint64_t pc : {0x0ull, 0x1040ull, 0x1139ull, 0x11a0ull, ~0ull}) {
      (void)profkit::unwind::FindUnwindRow(table->rows, pc);
    }
    // The packed form the BPF walker reads must give every row's rule back.
    profkit::unwind::UnwindInfoSet infos;
    auto packed = profkit::unwind::PackUnwindTable(table->rows, infos, 1 << 12);
    if (packed.ok()) {
      for (const profkit::unwind::UnwindRow& row : table->rows) {
        const std::optional<uint16_t> index = profkit::unwind::FindPackedInfo(*packed, row.pc);
        if (!index || !profkit::unwind::SameRule(infos.infos().at(*index), row.info)) {
          __builtin_trap();
        }
      }
    }
    for (const auto& segment : table->segments) {
      (void)profkit::unwind::LoadBias(table->segments, 0x7f0000000000, segment.offset);
    }
  }
  return 0;
}
