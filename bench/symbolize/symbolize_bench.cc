// Cost of symbolizing native frames: cold (first lookup of a module, which reads its symbols and
// DWARF index) and per address afterwards, for addresses spread evenly over an ELF's .text.
//
//   symbolize_bench FILE [ADDRESSES [--dump]] [--debug-dir DIR]
//
// Prints one line per phase; --dump also prints every address's frames (to compare builds). With
// --debug-dir, a stripped FILE is named from its separate debug file under DIR (build-id path or
// debuglink), as the agent does with [symbols] debug_dirs; without it only FILE itself is read.
// bench/symbolize_split.sh compares the two on one binary. A bench, not a test: it asserts nothing.
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "profkit/symbolize/native_symbolizer.h"

namespace {

struct TextSection {
  uint64_t file_offset = 0;
  uint64_t size = 0;
};

bool FindText(const char* path, TextSection* text) {
  elf_version(EV_CURRENT);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  size_t names = 0;
  bool found = false;
  if (elf != nullptr && elf_getshdrstrndx(elf, &names) == 0) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr header;
      if (gelf_getshdr(scn, &header) == nullptr) continue;
      const char* name = elf_strptr(elf, names, header.sh_name);
      if (name != nullptr && std::string(name) == ".text") {
        *text = {header.sh_offset, header.sh_size};
        found = true;
        break;
      }
    }
  }
  if (elf != nullptr) elf_end(elf);
  close(fd);
  return found;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  bool dump = false;
  profkit::symbolize::DebugInfoOptions debug{.debug_dirs = {}, .debuginfod_urls = ""};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dump") {
      dump = true;
    } else if (arg == "--debug-dir" && i + 1 < argc) {
      debug.debug_dirs.push_back(argv[++i]);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.empty()) {
    std::fprintf(stderr, "usage: %s FILE [ADDRESSES [--dump]] [--debug-dir DIR]\n", argv[0]);
    return 2;
  }
  const char* path = positional[0].c_str();
  const long count = positional.size() > 1 ? std::strtol(positional[1].c_str(), nullptr, 10) : 2000;
  TextSection text;
  struct stat st;
  if (count <= 0 || stat(path, &st) != 0 || !FindText(path, &text) || text.size == 0) {
    std::fprintf(stderr, "%s: not an ELF file with a .text section\n", path);
    return 1;
  }
  profkit::symbolize::NativeSymbolizer symbolizer({}, debug);
  auto id = symbolizer.AddModule({.dev = st.st_dev, .inode = st.st_ino}, path, {path});
  if (!id.ok()) {
    std::fprintf(stderr, "%s: %s\n", path, id.status().message().c_str());
    return 1;
  }
  const uint64_t step = text.size / static_cast<uint64_t>(count) ? text.size / count : 1;
  auto start = std::chrono::steady_clock::now();
  const size_t first_frames = symbolizer.Symbolize(*id, text.file_offset).size();
  const double cold = Seconds(std::chrono::steady_clock::now() - start);

  size_t frames = 0;
  size_t unresolved = 0;
  start = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    const uint64_t offset = text.file_offset + static_cast<uint64_t>(i) * step;
    const std::vector<profkit::symbolize::SymbolizedLine> lines = symbolizer.Symbolize(*id, offset);
    const size_t n = lines.size();
    if (dump) {
      std::printf("0x%lx", static_cast<unsigned long>(offset));
      for (const auto& l : lines) {
        std::printf(" | %s %s:%ld (%ld)", l.function.c_str(), l.file.c_str(),
                    static_cast<long>(l.line), static_cast<long>(l.start_line));
      }
      std::printf("\n");
    }
    frames += n;
    unresolved += n == 0;
  }
  const double spread = Seconds(std::chrono::steady_clock::now() - start);
  // Again, every unit now indexed: the steady state of a long-running agent.
  start = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i)
    symbolizer.Symbolize(*id, text.file_offset + static_cast<uint64_t>(i) * step);
  const double again = Seconds(std::chrono::steady_clock::now() - start);
  std::printf("%s: .text %.1f MiB\n", path, static_cast<double>(text.size) / (1 << 20));
  std::printf("first lookup (symbols + DWARF index): %.1f ms, %zu frames\n", cold * 1e3,
              first_frames);
  std::printf(
      "%ld addresses, first pass: %.1f us per address, %.2f frames per address, %zu without "
      "symbol\n",
      count, spread * 1e6 / static_cast<double>(count),
      static_cast<double>(frames) / static_cast<double>(count), unresolved);
  std::printf("same addresses again: %.1f us per address\n",
              again * 1e6 / static_cast<double>(count));
  return 0;
}
