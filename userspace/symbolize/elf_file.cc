#include "elf_file.h"

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <span>
#include <utility>

#include "profkit/common/hex.h"
#include "profkit/common/log.h"

namespace profkit::symbolize {
namespace {

// Real objects have a dozen program headers; more means a corrupt or hostile file.
constexpr size_t kMaxProgramHeaders = 1024;
// NT_GNU_BUILD_ID is 20 bytes (sha1) in practice; longer notes are not build ids we can key on.
constexpr size_t kMaxBuildIdBytes = 64;
// Function symbols kept per module (about 1.5x a large browser binary); beyond it the table is
// truncated and counted.
constexpr size_t kMaxSymbolsPerModule = 4 << 20;
// Longer names (deep template instantiations) are cut; they still identify the function.
constexpr size_t kMaxSymbolNameBytes = 16 << 10;
// NAME_MAX: a .gnu_debuglink names a file in a directory.
constexpr size_t kMaxDebugLinkBytes = 255;

void InitLibelf() {
  static std::once_flag once;
  std::call_once(once, [] { elf_version(EV_CURRENT); });
}

std::string ElfError() { return elf_errmsg(-1); }

class ElfHandle {
 public:
  explicit ElfHandle(Elf* elf) : elf_(elf) {}
  ~ElfHandle() {
    if (elf_ != nullptr) elf_end(elf_);
  }
  ElfHandle(const ElfHandle&) = delete;
  ElfHandle& operator=(const ElfHandle&) = delete;
  Elf* get() const { return elf_; }
  Elf* release() { return std::exchange(elf_, nullptr); }

 private:
  Elf* elf_;
};

Result<Elf*> BeginElf(int fd, Elf_Cmd command = ELF_C_READ) {
  InitLibelf();
  Elf* elf = elf_begin(fd, command, nullptr);
  if (elf == nullptr) return Status::InvalidInputf("elf_begin: {}", ElfError());
  if (elf_kind(elf) != ELF_K_ELF) {
    elf_end(elf);
    return Status::InvalidInput("not an ELF file");
  }
  return elf;
}

// Adds the function symbols of one symbol table section. Returns false when the table is full.
bool AddFunctionSymbols(Elf* elf, Elf_Scn* scn, const GElf_Shdr& shdr, SymbolTable::Builder* out) {
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (data == nullptr || shdr.sh_entsize == 0) return true;
  const size_t count = shdr.sh_size / shdr.sh_entsize;
  for (size_t i = 0; i < count; ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
    const int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
    if (sym.st_value == 0 || sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE) continue;
    const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
    if (name == nullptr || name[0] == '\0') continue;

    uint64_t size = sym.st_size;
    if (size == 0) {
      // Zero-size symbols (assembly) extend to the end of their section at most.
      GElf_Shdr section;
      Elf_Scn* home = elf_getscn(elf, sym.st_shndx);
      if (home == nullptr || gelf_getshdr(home, &section) == nullptr) continue;
      const uint64_t end = section.sh_addr + section.sh_size;
      if (sym.st_value < section.sh_addr || sym.st_value >= end) continue;
      size = end - sym.st_value;
    }
    if (out->count() >= kMaxSymbolsPerModule) return false;
    std::string_view view(name, strnlen(name, kMaxSymbolNameBytes));
    // A .symtab (libc6-dbg's debug file, for one) names versioned symbols `name@VERSION` or
    // `name@@VERSION`; the function is `name`, as .dynsym and perf call it.
    if (const size_t at = view.find('@'); at != std::string_view::npos && at > 0) {
      view = view.substr(0, at);
    }
    if (!out->Add(sym.st_value, size, view, sym.st_size != 0,
                  GELF_ST_BIND(sym.st_info) == STB_GLOBAL)) {
      return false;
    }
  }
  return true;
}

// The symbol tables and string tables (the ones symbols name into are SHT_STRTAB too).
bool IsSymbolSection(const GElf_Shdr& shdr, std::string_view) {
  return shdr.sh_type == SHT_SYMTAB || shdr.sh_type == SHT_DYNSYM || shdr.sh_type == SHT_STRTAB;
}

bool IsDwarfSection(const GElf_Shdr&, std::string_view name) {
  return name.starts_with(".debug_") || name.starts_with(".zdebug_");
}

bool IsCfiSection(const GElf_Shdr&, std::string_view name) {
  return name == ".eh_frame" || name == ".eh_frame_hdr" || name == ".debug_frame";
}

}  // namespace

const ElfReadLimits& DefaultElfReadLimits() {
  static const ElfReadLimits limits;
  return limits;
}

template <typename Wanted>
Status ElfFile::CheckSectionSizes(Elf* elf, Wanted wanted, std::string_view what) const {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return Status::Ok();  // nothing can be found by name
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (!wanted(shdr, name != nullptr ? std::string_view(name) : std::string_view())) continue;
    uint64_t size = shdr.sh_size;
    if ((shdr.sh_flags & SHF_COMPRESSED) != 0) {
      GElf_Chdr chdr;
      if (gelf_getchdr(scn, &chdr) != nullptr) size = std::max<uint64_t>(size, chdr.ch_size);
    }
    if (size > limits_.max_section_bytes) {
      limits_.oversized_sections.fetch_add(1, std::memory_order_relaxed);
      return Status::TooLargef(
          "{}: {} section {} is {} bytes (limit {}, [symbols] max_section_mb): {} not read", path_,
          what, name != nullptr ? name : "?", size, limits_.max_section_bytes, what);
    }
  }
  return Status::Ok();
}

std::optional<uint64_t> FileOffsetToAddress(const std::vector<LoadSegment>& segments,
                                            uint64_t offset) {
  for (const LoadSegment& s : segments) {
    if (offset >= s.offset && offset - s.offset < s.file_size) return offset - s.offset + s.vaddr;
  }
  return std::nullopt;
}

Result<std::unique_ptr<ElfFile>> ElfFile::Open(const std::string& path, Role role,
                                               const ElfReadLimits& limits) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::FromErrno(fmt::format("open {}", path), errno);
  return OpenFd(std::move(fd), path, role, limits);
}

Result<std::unique_ptr<ElfFile>> ElfFile::OpenFd(UniqueFd fd, std::string name, Role role,
                                                 const ElfReadLimits& limits) {
  std::unique_ptr<ElfFile> file(new ElfFile(std::move(fd), std::move(name), limits));
  PROFKIT_RETURN_IF_ERROR(file->ReadHeaders(role).WithContext(file->path_));
  return file;
}

// The DWARF and .eh_frame handles go first (members die in reverse order), then the descriptor
// they read through.
ElfFile::~ElfFile() = default;

Status ElfFile::ReadHeaders(Role role) {
  struct stat st;
  if (fstat(fd_, &st) != 0) return Status::FromErrno("fstat", errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidInput("not a regular file");
  file_size_ = static_cast<uint64_t>(st.st_size);

  PROFKIT_ASSIGN_OR_RETURN(Elf * raw, BeginElf(fd_));
  ElfHandle elf(raw);
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf.get(), &ehdr) == nullptr)
    return Status::InvalidInputf("ELF header: {}", ElfError());
  if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
    return Status::Unsupportedf("ELF type {} is neither an executable nor a shared object",
                                ehdr.e_type);
  }

  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0)
    return Status::InvalidInputf("program headers: {}", ElfError());
  if (phnum > kMaxProgramHeaders) {
    return Status::TooLargef("{} program headers (limit {})", phnum, kMaxProgramHeaders);
  }
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf.get(), static_cast<int>(i), &phdr) == nullptr) {
      return Status::InvalidInputf("program header {}: {}", i, ElfError());
    }
    if (phdr.p_type == PT_LOAD) segments_.push_back({phdr.p_offset, phdr.p_filesz, phdr.p_vaddr});
  }
  if (segments_.empty() && role == Role::kModule) return Status::InvalidInput("no PT_LOAD segment");

  const void* build_id = nullptr;
  const ssize_t build_id_size = dwelf_elf_gnu_build_id(elf.get(), &build_id);
  if (build_id_size > 0 && static_cast<size_t>(build_id_size) <= kMaxBuildIdBytes) {
    build_id_ = HexString(
        std::span(static_cast<const uint8_t*>(build_id), static_cast<size_t>(build_id_size)));
  }

  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf.get(), &shstrndx) == 0) {
    for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn != nullptr;
         scn = elf_nextscn(elf.get(), scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS) continue;
      if (shdr.sh_type == SHT_SYMTAB && shdr.sh_size > 0) has_symtab_ = true;
      const char* name = elf_strptr(elf.get(), shstrndx, shdr.sh_name);
      if (name != nullptr && strcmp(name, ".debug_info") == 0) has_debug_info_ = true;
    }
  }

  GElf_Word crc = 0;
  const char* link = dwelf_elf_gnu_debuglink(elf.get(), &crc);
  if (link != nullptr) {
    // The link is a base name looked up in fixed directories; a path in it could point anywhere.
    const std::string_view name(link, strnlen(link, kMaxDebugLinkBytes + 1));
    if (!name.empty() && name.size() <= kMaxDebugLinkBytes &&
        name.find('/') == std::string_view::npos && name != "." && name != "..") {
      debug_link_ = DebugLink{std::string(name), crc};
    }
  }
  return Status::Ok();
}

Result<ElfFile::Symbols> ElfFile::ReadSymbols() const {
  SymbolTable::Builder builder;
  PROFKIT_ASSIGN_OR_RETURN(const bool complete, AppendSymbols(&builder));
  Symbols symbols;
  symbols.truncated = !complete;
  symbols.table = std::move(builder).Build();
  return symbols;
}

Result<bool> ElfFile::AppendSymbols(SymbolTable::Builder* out) const {
  // A handle of its own: the section copies libelf makes are freed as soon as the compact table
  // is built.
  PROFKIT_ASSIGN_OR_RETURN(Elf * raw, BeginElf(fd_));
  ElfHandle elf(raw);
  PROFKIT_RETURN_IF_ERROR(CheckSectionSizes(elf.get(), IsSymbolSection, "symbols"));
  for (const Elf64_Word wanted : {SHT_SYMTAB, SHT_DYNSYM}) {
    const size_t before = out->count();
    bool complete = true;
    for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn != nullptr && complete;
         scn = elf_nextscn(elf.get(), scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != wanted) continue;
      complete = AddFunctionSymbols(elf.get(), scn, shdr, out);
    }
    if (!complete) return false;
    if (out->count() > before) break;
  }
  return true;
}

Result<std::vector<std::optional<ElfFile::ElfSymbol>>> ElfFile::FindSymbols(
    std::span<const std::string_view> names) const {
  PROFKIT_ASSIGN_OR_RETURN(Elf * raw, BeginElf(fd_));
  ElfHandle elf(raw);
  PROFKIT_RETURN_IF_ERROR(CheckSectionSizes(elf.get(), IsSymbolSection, "symbols"));
  std::vector<std::optional<ElfSymbol>> found(names.size());
  size_t remaining = names.size();
  for (const Elf64_Word wanted : {SHT_DYNSYM, SHT_SYMTAB}) {
    for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn != nullptr && remaining > 0;
         scn = elf_nextscn(elf.get(), scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != wanted || shdr.sh_entsize == 0) {
        continue;
      }
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (data == nullptr) continue;
      const size_t count = shdr.sh_size / shdr.sh_entsize;
      for (size_t i = 0; i < count && remaining > 0; ++i) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
        if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
        const char* name = elf_strptr(elf.get(), shdr.sh_link, sym.st_name);
        if (name == nullptr) continue;
        const std::string_view view(name, strnlen(name, kMaxSymbolNameBytes));
        for (size_t n = 0; n < names.size(); ++n) {
          if (!found[n] && names[n] == view) {
            found[n] = ElfSymbol{.address = sym.st_value, .size = sym.st_size};
            --remaining;
          }
        }
      }
    }
  }
  return found;
}

Result<std::string> ElfFile::ReadAtAddress(uint64_t address, size_t size) const {
  for (const LoadSegment& s : segments_) {
    if (address < s.vaddr || address - s.vaddr >= s.file_size) continue;
    if (size > s.file_size - (address - s.vaddr)) break;
    std::string bytes(size, '\0');
    const uint64_t offset = s.offset + (address - s.vaddr);
    const ssize_t n = pread(fd_, bytes.data(), size, static_cast<off_t>(offset));
    if (n < 0)
      return Status::FromErrno(fmt::format("{}: reading {} bytes at {:#x}", path_, size, offset),
                               errno);
    if (static_cast<size_t>(n) != size) {
      return Status::InvalidInputf("{}: short read of {} bytes at {:#x}", path_, size, offset);
    }
    return bytes;
  }
  return Status::NotFoundf("{}: {} bytes at address {:#x} are not in the file's loaded segments",
                           path_, size, address);
}

Result<std::string> ElfFile::ReadSection(std::string_view name, size_t max_bytes) const {
  PROFKIT_ASSIGN_OR_RETURN(Elf * raw, BeginElf(fd_));
  ElfHandle elf(raw);
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf.get(), &shstrndx) != 0) {
    return Status::InvalidInputf("{}: section names: {}", path_, ElfError());
  }
  for (Elf_Scn* scn = elf_nextscn(elf.get(), nullptr); scn != nullptr;
       scn = elf_nextscn(elf.get(), scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* section = elf_strptr(elf.get(), shstrndx, shdr.sh_name);
    if (section == nullptr || name != section) continue;
    if (shdr.sh_type == SHT_NOBITS)
      return Status::NotFoundf("{}: {} has no file bytes", path_, name);
    if (shdr.sh_size > max_bytes) {
      return Status::TooLargef("{}: {} is {} bytes (limit {})", path_, name, shdr.sh_size,
                               max_bytes);
    }
    std::string bytes(shdr.sh_size, '\0');
    const ssize_t n = pread(fd_, bytes.data(), bytes.size(), static_cast<off_t>(shdr.sh_offset));
    if (n < 0 || static_cast<size_t>(n) != bytes.size()) {
      return Status::InvalidInputf("{}: reading {} failed", path_, name);
    }
    return bytes;
  }
  return Status::NotFoundf("{}: no section {}", path_, name);
}

DwarfFrames* ElfFile::dwarf(size_t max_decompressed_bytes) {
  if (!has_debug_info_ || dwarf_tried_) return dwarf_.get();
  if (decompressed_debug_bytes_ && *decompressed_debug_bytes_ > max_decompressed_bytes) {
    return nullptr;
  }
  // Debug sections run to tens of MiB (profkit's own are 30) and a lookup touches a few pages of
  // them: mapped, only those pages are resident and the kernel may reclaim them, where reading
  // would copy whole sections to the heap. The SIGBUS risk of mapping (a file truncated in place)
  // is accepted for debug info of code that is mapped and running, which is replaced by rename.
  auto elf = BeginElf(fd_, ELF_C_READ_MMAP);
  if (!elf.ok()) return nullptr;
  // Measured before dwarf_begin_elf, which decompresses the sections in place and clears their
  // SHF_COMPRESSED.
  decompressed_debug_bytes_ = DecompressedDebugBytes(*elf);
  if (*decompressed_debug_bytes_ > max_decompressed_bytes) {
    elf_end(*elf);
    return nullptr;
  }
  dwarf_tried_ = true;
  if (Status size = CheckSectionSizes(*elf, IsDwarfSection, "DWARF"); !size.ok()) {
    elf_end(*elf);
    static LogLimiter limiter(60'000'000'000);
    if (limiter.Allow() >= 0) spdlog::warn("{}", size.message());
    return nullptr;
  }
  auto frames = DwarfFrames::Open(*elf, limits_, *decompressed_debug_bytes_);
  if (!frames.ok()) {
    static LogLimiter limiter(60'000'000'000);
    if (limiter.Allow() >= 0) {
      spdlog::warn("{}: no line information: {}", path_, frames.status().message());
    }
    return nullptr;
  }
  dwarf_ = std::move(frames).value();
  return dwarf_.get();
}

Dwarf_CFI* ElfFile::eh_frame() {
  if (eh_frame_tried_) return eh_frame_ ? eh_frame_->cfi() : nullptr;
  eh_frame_tried_ = true;
  auto elf = BeginElf(fd_);
  if (!elf.ok()) return nullptr;
  if (Status size = CheckSectionSizes(*elf, IsCfiSection, "CFI"); !size.ok()) {
    elf_end(*elf);
    static LogLimiter limiter(60'000'000'000);
    if (limiter.Allow() >= 0) spdlog::warn("{}", size.message());
    return nullptr;
  }
  // A file without .eh_frame is common enough (e.g. -fno-asynchronous-unwind-tables) not to log.
  auto frames = EhFrame::Open(*elf);
  if (!frames.ok()) return nullptr;
  eh_frame_ = std::move(frames).value();
  return eh_frame_->cfi();
}

}  // namespace profkit::symbolize
