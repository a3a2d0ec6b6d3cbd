// Files mapped by any process on the host, opened by the native symbolizer
// (symbolize::NativeSymbolizer): the ELF reader (headers, sections, segments, build id, debug
// link, MiniDebugInfo), the symbol tables, DWARF lines and inlines, and the CFI lookup that
// restores a frameless leaf's caller. The input is the whole file; it is opened by path from a
// memfd, as a mapped file is opened through /proc/<pid>/map_files.
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "profkit/symbolize/native_symbolizer.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t written = 0;
  while (written < size) {
    const ssize_t n = write(fd, data + written, size - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  {
    // No debug directories and no debuginfod: only the input itself is read.
    profkit::symbolize::DebugInfoOptions debug;
    debug.debug_dirs.clear();
    debug.debuginfod_urls = "";
    profkit::symbolize::NativeSymbolizer symbolizer({}, debug);
    auto id = symbolizer.AddModule({.dev = 1, .inode = 1}, path, {path});
    if (id.ok()) {
      // Offsets where the seeds (small gcc/clang binaries) have code, and spread over the file.
      const std::array<uint64_t, 6> offsets = {0x1040, 0x1139,   0x1150,
                                               0x11a0, size / 2, size > 0 ? size - 1 : 0};
      for (const uint64_t offset : offsets) {
        (void)symbolizer.Symbolize(*id, offset);
        (void)symbolizer.ReturnAddressOffsetFromSp(*id, offset);
        (void)symbolizer.AddressOfFileOffset(*id, offset);
      }
      const std::array<std::string_view, 3> names = {"main", "_PyRuntime", "Py_Version"};
      (void)symbolizer.FindSymbols(*id, names);
      (void)symbolizer.ReadSection(*id, ".PyRuntime", 4096);
      (void)symbolizer.ReadAtAddress(*id, 0x4000, 64);
      symbolizer.ReleaseModule(*id);
    }
  }
  close(fd);
  return 0;
}
