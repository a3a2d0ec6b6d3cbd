// Prints, for one ELF file: its .text size, the packed unwind table's rows, pages and rules, its
// bytes in BPF maps (and per row), the best of five build-and-pack times, and the table's KiB per
// MiB of .text. Usage: profkit_unwind_table_bench FILE
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "profkit/unwind/packed_unwind_table.h"
#include "profkit/unwind/unwind_table.h"

namespace {

double TextMiB(const char* path) {
  const int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  size_t shstrndx = 0;
  double bytes = 0;
  if (elf != nullptr && elf_getshdrstrndx(elf, &shstrndx) == 0) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr) continue;
      const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
      if (name != nullptr && std::strcmp(name, ".text") == 0) bytes = shdr.sh_size;
    }
  }
  if (elf != nullptr) elf_end(elf);
  close(fd);
  return bytes / (1 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE\n", argv[0]);
    return 2;
  }
  double best_ms = 1e18;
  size_t rows = 0;
  size_t pages = 0;
  size_t rules = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto table = profkit::unwind::BuildUnwindTable(argv[1]);
    if (!table.ok()) {
      std::fprintf(stderr, "%s: %s\n", argv[1], table.status().message().c_str());
      return 1;
    }
    profkit::unwind::UnwindInfoSet infos;
    auto packed = profkit::unwind::PackUnwindTable(table->rows, infos, size_t{1} << 20);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!packed.ok()) {
      std::fprintf(stderr, "%s: %s\n", argv[1], packed.status().message().c_str());
      return 1;
    }
    rows = packed->rows.size();
    pages = packed->pages.size();
    rules = infos.infos().size();
    best_ms = std::min(best_ms, ms);
  }
  // The file's own BPF bytes: its rows and pages (its rules are shared with other files, and
  // counted here as if it brought them all).
  const double bytes = rows * sizeof(profkit_unwind_row) + pages * sizeof(profkit_unwind_page) +
                       rules * sizeof(profkit_unwind_info);
  const double text = TextMiB(argv[1]);
  const double kib = bytes / 1024.0;
  std::printf("%s  %.2f  %zu  %zu  %zu  %.0f  %.2f  %.1f  %.0f\n", argv[1], text, rows, pages,
              rules, kib, bytes / rows, best_ms, text > 0 ? kib / text : 0);
  return 0;
}
