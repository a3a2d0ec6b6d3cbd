#include "debug_file_finder.h"

#include <fcntl.h>
#include <lzma.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>

#include "profkit/common/unique_fd.h"

namespace profkit::symbolize {
namespace {

// Debug files of the largest binaries (browsers) reach a few GiB; a CRC over more is refused.
constexpr uint64_t kMaxDebugLinkTargetBytes = 8ULL << 30;
// Fedora's .gnu_debugdata is tens to hundreds of KiB (a few MiB for the largest libraries).
constexpr size_t kMaxDebugDataBytes = 64 << 20;
// The decompressed MiniDebugInfo: a symtab and a strtab, a few times the compressed size.
constexpr uint64_t kMaxMiniDebugInfoBytes = 512ULL << 20;
// liblzma's decoder memory (the dictionary): xz's presets use at most 64 MiB.
constexpr uint64_t kLzmaMemoryLimit = 128ULL << 20;

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// Candidate locations, the process's root first: the same path on the host may hold another file
// (another version of the library), which the build-id check then refuses.
std::vector<std::string> UnderRoots(const std::string& root, const std::string& path) {
  std::vector<std::string> paths;
  if (!root.empty()) paths.push_back(root + path);
  paths.push_back(path);
  return paths;
}

Result<std::unique_ptr<ElfFile>> OpenDebugLinkTarget(const std::string& path,
                                                     const ElfFile& module) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  const ElfFile::DebugLink& link = *module.debug_link();
  PROFKIT_ASSIGN_OR_RETURN(const uint32_t crc, FileCrc32(path, kMaxDebugLinkTargetBytes));
  if (crc != link.crc) {
    return Status::InvalidInputf("{}: CRC {:08x}, the debuglink wants {:08x}", path, crc, link.crc);
  }
  PROFKIT_ASSIGN_OR_RETURN(auto file, ElfFile::Open(path, ElfFile::Role::kDebug, module.limits()));
  if (!module.build_id().empty() && file->build_id() != module.build_id()) {
    return Status::InvalidInputf("{}: build id {} is not the module's {}", path, file->build_id(),
                                 module.build_id());
  }
  return file;
}

}  // namespace

std::string_view DebugSourceName(DebugSource source) {
  switch (source) {
    case DebugSource::kNone:
      return "none";
    case DebugSource::kBuildIdPath:
      return "build-id path";
    case DebugSource::kDebugLink:
      return "debuglink";
    case DebugSource::kMiniDebugInfo:
      return "MiniDebugInfo";
    case DebugSource::kDebuginfod:
      return "debuginfod";
  }
  return "unknown";
}

Result<uint32_t> FileCrc32(const std::string& path, uint64_t max_bytes) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::FromErrno("open " + path, errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Status::FromErrno("fstat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidInputf("{}: not a regular file", path);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Status::TooLargef("{}: {} bytes (limit {})", path, st.st_size, max_bytes);
  }
  std::vector<unsigned char> buffer(1 << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  uint64_t total = 0;
  for (;;) {
    const ssize_t n = read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + path, errno);
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (total > max_bytes) return Status::TooLargef("{}: grew past {} bytes", path, max_bytes);
    crc = crc32(crc, buffer.data(), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

Result<std::unique_ptr<ElfFile>> OpenDebugFileFor(const std::string& path,
                                                  const std::string& build_id,
                                                  const ElfReadLimits& limits) {
  PROFKIT_ASSIGN_OR_RETURN(auto file, ElfFile::Open(path, ElfFile::Role::kDebug, limits));
  if (file->build_id() != build_id) {
    return Status::InvalidInputf("{}: build id {} is not the module's {}", path,
                                 file->build_id().empty() ? "(none)" : file->build_id(), build_id);
  }
  return file;
}

FoundDebugFile FindSeparateDebugFile(const ElfFile& module, const std::string& module_path,
                                     const std::string& root,
                                     const std::vector<std::string>& debug_dirs) {
  const std::string& build_id = module.build_id();
  if (build_id.size() > 2) {
    const std::string relative =
        "/.build-id/" + build_id.substr(0, 2) + "/" + build_id.substr(2) + ".debug";
    for (const std::string& dir : debug_dirs) {
      for (const std::string& path : UnderRoots(root, dir + relative)) {
        auto file = OpenDebugFileFor(path, build_id, module.limits());
        if (file.ok() && Useful(**file))
          return {std::move(file).value(), DebugSource::kBuildIdPath};
      }
    }
  }
  if (module.debug_link()) {
    const std::string& name = module.debug_link()->name;
    const std::string dir = Dirname(module_path);
    const std::string slash_dir = dir == "/" ? "" : dir;
    std::vector<std::string> relative = {slash_dir + "/" + name, slash_dir + "/.debug/" + name};
    for (const std::string& debug_dir : debug_dirs)
      relative.push_back(debug_dir + dir + "/" + name);
    for (const std::string& candidate : relative) {
      for (const std::string& path : UnderRoots(root, candidate)) {
        if (path == module.path()) continue;
        auto file = OpenDebugLinkTarget(path, module);
        if (file.ok() && Useful(**file)) return {std::move(file).value(), DebugSource::kDebugLink};
      }
    }
  }
  return {};
}

Result<std::unique_ptr<ElfFile>> OpenMiniDebugInfo(const ElfFile& module) {
  PROFKIT_ASSIGN_OR_RETURN(const std::string compressed,
                           module.ReadSection(".gnu_debugdata", kMaxDebugDataBytes));
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&stream, kLzmaMemoryLimit, 0) != LZMA_OK) {
    lzma_end(&stream);
    return Status::Internal("lzma_stream_decoder failed");
  }
  std::string elf;
  std::vector<uint8_t> chunk(256 << 10);
  stream.next_in = reinterpret_cast<const uint8_t*>(compressed.data());
  stream.avail_in = compressed.size();
  lzma_ret ret = LZMA_OK;
  while (ret == LZMA_OK) {
    stream.next_out = chunk.data();
    stream.avail_out = chunk.size();
    ret = lzma_code(&stream, LZMA_FINISH);
    elf.append(reinterpret_cast<const char*>(chunk.data()), chunk.size() - stream.avail_out);
    if (elf.size() > kMaxMiniDebugInfoBytes) {
      lzma_end(&stream);
      return Status::TooLargef("{}: .gnu_debugdata decompresses past {} bytes", module.path(),
                               kMaxMiniDebugInfoBytes);
    }
  }
  lzma_end(&stream);
  if (ret != LZMA_STREAM_END) {
    return Status::InvalidInputf("{}: .gnu_debugdata is not a valid xz stream (lzma error {})",
                                 module.path(), static_cast<int>(ret));
  }
  // libelf reads from a descriptor, and the file's DWARF-less symtab is read on the same path as
  // any other ELF file: an anonymous memory file holds the decompressed bytes.
  UniqueFd fd(memfd_create("profkit-minidebuginfo", MFD_CLOEXEC));
  if (!fd) return Status::FromErrno("memfd_create", errno);
  size_t written = 0;
  while (written < elf.size()) {
    const ssize_t n = write(fd.get(), elf.data() + written, elf.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("writing MiniDebugInfo to a memfd", errno);
    }
    written += static_cast<size_t>(n);
  }
  return ElfFile::OpenFd(std::move(fd), module.path() + " (.gnu_debugdata)", ElfFile::Role::kDebug,
                         module.limits());
}

}  // namespace profkit::symbolize
