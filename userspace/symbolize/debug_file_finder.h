// Finds the separate file that carries a stripped module's symbols and DWARF on this machine: the
// build-id path under each debug directory, then the .gnu_debuglink target (beside the module, in
// its .debug/ directory, under each debug directory), and, for symbols only, the module's own
// MiniDebugInfo (.gnu_debugdata, an xz-compressed ELF). Every file found is read as untrusted:
// a separate file is accepted only when its build id equals the module's (and, for a debuglink,
// its CRC-32 equals the link's), and decompression is bounded.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "elf_file.h"
#include "profkit/common/status.h"

namespace profkit::symbolize {

enum class DebugSource { kNone, kBuildIdPath, kDebugLink, kMiniDebugInfo, kDebuginfod };

std::string_view DebugSourceName(DebugSource source);

struct FoundDebugFile {
  std::unique_ptr<ElfFile> file;
  DebugSource source = DebugSource::kNone;
};

// A debug file is worth using when it carries DWARF or a .symtab.
inline bool Useful(const ElfFile& file) { return file.has_debug_info() || file.has_symtab(); }

// `module_path` is the module's path as its process sees it; `root` ("" or /proc/PID/root) is the
// process's root directory, searched before the host's. Returns a file with DWARF or a .symtab from
// the build-id path or the debuglink, or source kNone when neither holds a matching file.
FoundDebugFile FindSeparateDebugFile(const ElfFile& module, const std::string& module_path,
                                     const std::string& root,
                                     const std::vector<std::string>& debug_dirs);

// The module's MiniDebugInfo as an ELF file of its own (in a memfd); NotFound without one.
Result<std::unique_ptr<ElfFile>> OpenMiniDebugInfo(const ElfFile& module);

// Opens `path` as a debug file of the module with build id `build_id` (lowercase hex, non-empty);
// fails when it is not an ELF file or carries another build id. `limits` (the module's) must
// outlive the file.
Result<std::unique_ptr<ElfFile>> OpenDebugFileFor(const std::string& path,
                                                  const std::string& build_id,
                                                  const ElfReadLimits& limits);

// The CRC-32 .gnu_debuglink uses (zlib's) of a whole file, reading at most `max_bytes`.
Result<uint32_t> FileCrc32(const std::string& path, uint64_t max_bytes);

}  // namespace profkit::symbolize
