// One opened ELF object file (executable or shared object) read through libelf. The descriptor
// stays open for the object's lifetime, so the file remains readable after it is deleted or its
// process's mount namespace goes away. libelf reads with pread (ELF_C_READ), never mmap, so a file
// truncated under us yields read errors instead of SIGBUS.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "call_frames.h"
#include "dwarf_frames.h"
#include "profkit/common/status.h"
#include "profkit/common/unique_fd.h"
#include "symbol_table.h"

namespace profkit::symbolize {

struct LoadSegment {
  uint64_t offset;     // p_offset
  uint64_t file_size;  // p_filesz
  uint64_t vaddr;      // p_vaddr
};

// What one file may make profkit hold (config [symbols] max_section_mb and max_dwarf_units). Every
// file opened with these limits counts its refusals here; separate debug files found for a module
// are opened with the module's limits.
struct ElfReadLimits {
  // The largest section read for symbols (.symtab, .dynsym and their strings), CFI (.eh_frame,
  // .eh_frame_hdr, .debug_frame) or DWARF (every .debug_* section): its file size, or for a
  // compressed section its declared size once decompressed. libelf copies such a section whole
  // to the heap (or decompresses it), so without a bound a file with a 2 GiB .debug_info costs 2
  // GiB.
  uint64_t max_section_bytes = 512ULL << 20;
  // Compile units whose address ranges are indexed per file; the units past it are not looked at
  // (their addresses get symbol-table names, no lines).
  size_t max_dwarf_units = 1 << 17;

  // Symbols, CFI or DWARF of a file refused because one of its sections is over max_section_bytes.
  mutable std::atomic<uint64_t> oversized_sections{0};
  // Files whose DWARF had more units than max_dwarf_units.
  mutable std::atomic<uint64_t> dwarf_unit_limit_hits{0};
  // Heap held by every open DWARF (DwarfFrames::memory_bytes), for the symbolizer's budget.
  mutable std::atomic<uint64_t> dwarf_bytes{0};
};

// The defaults, for files opened outside a NativeSymbolizer (tests, tools).
const ElfReadLimits& DefaultElfReadLimits();

// ELF virtual address of a file offset, nullopt when no PT_LOAD segment maps that offset.
std::optional<uint64_t> FileOffsetToAddress(const std::vector<LoadSegment>& segments,
                                            uint64_t offset);

class ElfFile {
 public:
  struct ElfSymbol {
    uint64_t address;  // st_value: ELF virtual address
    uint64_t size;
  };

  struct Symbols {
    SymbolTable table;
    bool truncated = false;  // cut at kMaxSymbolsPerModule
  };

  // What the file is opened as: a mapped module must have PT_LOAD segments; a separate debug file
  // or an embedded MiniDebugInfo is read for its symbols and DWARF only, so segments are optional.
  enum class Role { kModule, kDebug };

  // The .gnu_debuglink of a stripped file: the debug file's base name and the CRC-32 (zlib's) of
  // its whole content.
  struct DebugLink {
    std::string name;
    uint32_t crc = 0;
  };

  // Fails when the path does not open or is not an ELF executable or shared object.
  // `limits` must outlive the file.
  static Result<std::unique_ptr<ElfFile>> Open(
      const std::string& path, Role role = Role::kModule,
      const ElfReadLimits& limits = DefaultElfReadLimits());
  // The same for an already opened descriptor (a memfd holding decompressed MiniDebugInfo);
  // `name` is what errors call it.
  static Result<std::unique_ptr<ElfFile>> OpenFd(
      UniqueFd fd, std::string name, Role role,
      const ElfReadLimits& limits = DefaultElfReadLimits());
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  uint64_t file_size() const { return file_size_; }
  const std::string& build_id() const { return build_id_; }
  const std::vector<LoadSegment>& segments() const { return segments_; }
  bool has_debug_info() const { return has_debug_info_; }
  // A non-empty .symtab (a stripped file keeps .dynsym only).
  bool has_symtab() const { return has_symtab_; }
  const std::optional<DebugLink>& debug_link() const { return debug_link_; }
  const std::string& path() const { return path_; }
  const ElfReadLimits& limits() const { return limits_; }

  // Function symbols of .symtab, or of .dynsym when .symtab has none.
  Result<Symbols> ReadSymbols() const;
  // The same, added to `out`: several files make one table (MiniDebugInfo holds only the symbols
  // .dynsym lacks). Returns false when the table is full.
  Result<bool> AppendSymbols(SymbolTable::Builder* out) const;

  // Symbols of any type named exactly `names[i]` (first defined match in .dynsym, then .symtab),
  // nullopt where none is defined.
  Result<std::vector<std::optional<ElfSymbol>>> FindSymbols(
      std::span<const std::string_view> names) const;

  // `size` bytes of the file's content at ELF virtual address `address`; an error unless they lie
  // inside one PT_LOAD segment's file part.
  Result<std::string> ReadAtAddress(uint64_t address, size_t size) const;

  // The contents of the named section, an error when it is missing, has no file bytes
  // (SHT_NOBITS) or is larger than `max_bytes`.
  Result<std::string> ReadSection(std::string_view name, size_t max_bytes) const;

  // DWARF of this file, opened on first use; nullptr without (usable) debug info.
  // Not opened (nullptr, asked again on the next call) while its compressed debug sections would
  // decompress to more than `max_decompressed_bytes` of heap (DecompressedDebugBytes).
  DwarfFrames* dwarf(size_t max_decompressed_bytes = SIZE_MAX);
  // dwarf() was called and found DWARF.
  bool dwarf_loaded() const { return dwarf_ != nullptr; }
  // The last dwarf() did not open it for its max_decompressed_bytes.
  bool dwarf_over_budget() const { return !dwarf_tried_ && decompressed_debug_bytes_.has_value(); }
  // Frees the DWARF and its indexes; the next dwarf() reads it again.
  void CloseDwarf() {
    dwarf_.reset();
    dwarf_tried_ = false;
  }

  // The file's .eh_frame, read on first use; nullptr without one.
  Dwarf_CFI* eh_frame();
  // Frees what eh_frame() read (the whole section, and libdw's cache of the entries looked up);
  // the next eh_frame() reads it again.
  void CloseEhFrame() {
    eh_frame_.reset();
    eh_frame_tried_ = false;
  }

 private:
  ElfFile(UniqueFd fd, std::string path, const ElfReadLimits& limits)
      : file_(std::move(fd)), path_(std::move(path)), limits_(limits) {}
  Status ReadHeaders(Role role);
  // An error (counted in limits_.oversized_sections) when a section `wanted` selects is larger
  // than limits_.max_section_bytes, on disk or once decompressed.
  template <typename Wanted>
  Status CheckSectionSizes(Elf* elf, Wanted wanted, std::string_view what) const;

  // Declared first so it is closed last, after the Elf handles that read through it.
  const UniqueFd file_;
  const int fd_ = file_.get();
  const std::string path_;
  const ElfReadLimits& limits_;
  uint64_t file_size_ = 0;
  std::string build_id_;
  std::vector<LoadSegment> segments_;
  bool has_debug_info_ = false;
  bool has_symtab_ = false;
  std::optional<DebugLink> debug_link_;
  bool dwarf_tried_ = false;
  std::optional<size_t> decompressed_debug_bytes_;  // known once dwarf() looked
  std::unique_ptr<DwarfFrames> dwarf_;
  bool eh_frame_tried_ = false;
  std::unique_ptr<EhFrame> eh_frame_;
};

}  // namespace profkit::symbolize
