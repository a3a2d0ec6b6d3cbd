#include "profkit/unwind/unwind_table.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <utility>

#include "profkit/common/hex.h"

namespace profkit::unwind {
namespace {

// x86-64 DWARF register numbers (System V psABI, figure 3.36).
constexpr int kRegRbp = 6;
constexpr int kRegRsp = 7;
constexpr int kRegRip = 16;

// Rows are addressed by 32-bit file addresses; every shared library and PIE (and non-PIE
// executables at 0x400000) fits.
constexpr uint64_t kMaxFileAddress = uint64_t{1} << 32;
// The largest CFA offset a row encodes (16 bits of 8-byte units).
constexpr int64_t kMaxCfaOffset = int64_t{0xffff} * 8;

// Program headers read; real files have a handful.
constexpr size_t kMaxSegments = 256;

struct FdeRange {
  uint64_t start;
  uint64_t end;
};

// DW_EH_PE_* pointer encodings (LSB 4.1, "DWARF Extensions"): the low nibble is the format, the
// high one how the value is applied.
constexpr uint8_t kPeOmit = 0xff;
constexpr uint8_t kPeFormatMask = 0x0f;
constexpr uint8_t kPeApplyMask = 0x70;
constexpr uint8_t kPeIndirect = 0x80;

class ByteReader {
 public:
  ByteReader(const uint8_t* p, const uint8_t* end) : p_(p), end_(end) {}
  const uint8_t* position() const { return p_; }

  bool Fixed(size_t size, bool is_signed, int64_t* out) {
    if (static_cast<size_t>(end_ - p_) < size) return false;
    uint64_t value = 0;
    std::memcpy(&value, p_, size);  // x86-64 only: little-endian like the host
    p_ += size;
    if (is_signed && size < 8) {
      const int shift = static_cast<int>(64 - 8 * size);
      *out = static_cast<int64_t>(value << shift) >> shift;
    } else {
      *out = static_cast<int64_t>(value);
    }
    return true;
  }

  bool Leb128(bool is_signed, int64_t* out) {
    uint64_t value = 0;
    int shift = 0;
    while (p_ < end_ && shift < 64) {
      const uint8_t byte = *p_++;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) == 0) {
        if (is_signed && shift < 64 && (byte & 0x40) != 0) value |= ~uint64_t{0} << shift;
        *out = static_cast<int64_t>(value);
        return true;
      }
    }
    return false;
  }

  // A DW_EH_PE_-encoded value, its format only (the caller applies pcrel).
  bool Encoded(uint8_t encoding, int64_t* out) {
    switch (encoding & kPeFormatMask) {
      case 0x00:
        return Fixed(8, false, out);  // absptr (ELF64)
      case 0x01:
        return Leb128(false, out);
      case 0x02:
        return Fixed(2, false, out);
      case 0x03:
        return Fixed(4, false, out);
      case 0x04:
        return Fixed(8, false, out);
      case 0x09:
        return Leb128(true, out);
      case 0x0a:
        return Fixed(2, true, out);
      case 0x0b:
        return Fixed(4, true, out);
      case 0x0c:
        return Fixed(8, true, out);
      default:
        return false;
    }
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// The FDE pointer encoding a CIE's augmentation declares ('R'); kPeOmit when the augmentation is
// not understood (its FDEs are then skipped).
uint8_t FdeEncoding(const Dwarf_CIE& cie) {
  const char* augmentation = cie.augmentation;
  if (augmentation == nullptr) return kPeOmit;
  if (augmentation[0] == '\0') return 0x00;  // no augmentation: absptr
  if (augmentation[0] != 'z' || cie.augmentation_data == nullptr) return kPeOmit;
  ByteReader reader(cie.augmentation_data, cie.augmentation_data + cie.augmentation_data_size);
  uint8_t encoding = 0x00;
  for (const char* c = augmentation + 1; *c != '\0'; ++c) {
    int64_t ignored = 0;
    switch (*c) {
      case 'L':  // LSDA encoding
        if (!reader.Fixed(1, false, &ignored)) return kPeOmit;
        break;
      case 'P': {  // personality: encoding, then the pointer
        int64_t personality_encoding = 0;
        if (!reader.Fixed(1, false, &personality_encoding)) return kPeOmit;
        if (!reader.Encoded(static_cast<uint8_t>(personality_encoding), &ignored)) return kPeOmit;
        break;
      }
      case 'R':
        if (!reader.Fixed(1, false, &ignored)) return kPeOmit;
        encoding = static_cast<uint8_t>(ignored);
        break;
      case 'S':  // signal frame
      case 'B':  // AArch64 BTI
        break;
      default:
        return kPeOmit;
    }
  }
  return encoding;
}

// [start, end) of an FDE, from its encoded initial location and range. `section_address` is the
// section's sh_addr and `field_offset` the offset of the initial location in the section, for
// pc-relative encodings.
bool DecodeFdeRange(const Dwarf_FDE& fde, uint8_t encoding, bool eh_frame, uint64_t section_address,
                    uint64_t field_offset, FdeRange* range) {
  if (encoding == kPeOmit || (encoding & kPeIndirect) != 0) return false;
  if (!eh_frame) encoding = 0x00;  // .debug_frame: target addresses
  ByteReader reader(fde.start, fde.end);
  int64_t location = 0;
  int64_t length = 0;
  if (!reader.Encoded(encoding, &location)) return false;
  if (!reader.Encoded(encoding & kPeFormatMask, &length)) return false;
  uint64_t start = static_cast<uint64_t>(location);
  switch (encoding & kPeApplyMask) {
    case 0x00:
      break;
    case 0x10:
      start += section_address + field_offset;
      break;  // pcrel
    default:
      return false;  // textrel, datarel, funcrel
  }
  const auto size = static_cast<uint64_t>(length);
  if (size == 0 || start >= kMaxFileAddress || size > kMaxFileAddress - start) return false;
  range->start = start;
  range->end = start + size;
  return true;
}

bool IsCfaPlusOffset(const Dwarf_Op* ops, size_t nops, int64_t* offset) {
  if (nops == 1 && ops[0].atom == DW_OP_call_frame_cfa) {
    *offset = 0;
    return true;
  }
  if (nops != 2 || ops[0].atom != DW_OP_call_frame_cfa) return false;
  if (ops[1].atom == DW_OP_plus_uconst) {
    *offset = static_cast<int64_t>(ops[1].number);
    return true;
  }
  return false;
}

// GCC and binutils' CFA expression for 16-byte PLT entries:
//   DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_lit<N>; DW_OP_ge; DW_OP_lit3;
//   DW_OP_shl; DW_OP_plus
// i.e. CFA = RSP + 8 + ((RIP & 15) >= N ? 8 : 0). Returns N, or 0 for any other expression.
uint16_t PltThreshold(const Dwarf_Op* ops, size_t nops) {
  if (nops != 9) return 0;
  const bool shape = ops[0].atom == DW_OP_breg7 && static_cast<int64_t>(ops[0].number) == 8 &&
                     ops[1].atom == DW_OP_breg16 && ops[1].number == 0 &&
                     ops[2].atom == DW_OP_lit15 && ops[3].atom == DW_OP_and &&
                     ops[4].atom >= DW_OP_lit1 && ops[4].atom <= DW_OP_lit15 &&
                     ops[5].atom == DW_OP_ge && ops[6].atom == DW_OP_lit3 &&
                     ops[7].atom == DW_OP_shl && ops[8].atom == DW_OP_plus;
  return shape ? static_cast<uint16_t>(ops[4].atom - DW_OP_lit0) : 0;
}

UnwindRow Unsupported(uint64_t pc) {
  return {static_cast<uint32_t>(pc), {PROFKIT_UNWIND_UNSUPPORTED, 0, 0}};
}

// The row libdw's CFI interpreter computed for one address range.
profkit_unwind_info Classify(Dwarf_Frame* frame, int ra_register, bool signal) {
  profkit_unwind_info row{PROFKIT_UNWIND_UNSUPPORTED, 0, 0};
  if (ra_register != kRegRip) return row;
  if (signal) {
    row.kind = PROFKIT_UNWIND_SIGNAL;
    return row;
  }

  Dwarf_Op ops_mem[3];
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  if (dwarf_frame_register(frame, kRegRip, ops_mem, &ops, &nops) != 0) return row;
  if (nops == 0) {
    // Undefined: the outermost frame. Same-value (ops == nullptr) makes no sense for the RA.
    if (ops != nullptr) row.kind = PROFKIT_UNWIND_END;
    return row;
  }
  int64_t ra_offset = 0;
  if (!IsCfaPlusOffset(ops, nops, &ra_offset) || ra_offset != -8) return row;

  if (dwarf_frame_register(frame, kRegRbp, ops_mem, &ops, &nops) != 0) return row;
  if (nops != 0) {
    int64_t rbp_offset = 0;
    if (!IsCfaPlusOffset(ops, nops, &rbp_offset) || rbp_offset % 8 != 0 || rbp_offset >= 0 ||
        rbp_offset < -128 * 8) {
      return row;
    }
    row.rbp_offset = static_cast<int8_t>(rbp_offset / 8);
  }

  if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0) return row;
  if (nops == 1 && ops[0].atom == DW_OP_bregx) {
    const auto reg = static_cast<int>(ops[0].number);
    const auto offset = static_cast<int64_t>(ops[0].number2);
    if ((reg != kRegRsp && reg != kRegRbp) || offset < 0 || offset % 8 != 0 ||
        offset > kMaxCfaOffset) {
      return row;
    }
    row.kind = reg == kRegRsp ? PROFKIT_UNWIND_CFA_RSP : PROFKIT_UNWIND_CFA_RBP;
    row.cfa_offset = static_cast<uint16_t>(offset / 8);
    return row;
  }
  if (const uint16_t threshold = PltThreshold(ops, nops); threshold != 0 && row.rbp_offset == 0) {
    row.kind = PROFKIT_UNWIND_PLT;
    row.cfa_offset = threshold;
  }
  return row;
}

struct FdeRows {
  FdeRange range;
  std::vector<UnwindRow> rows;
};

// The rows of one FDE, one per range libdw reports.
FdeRows RowsOf(Dwarf_CFI* cfi, const FdeRange& range, const UnwindTableLimits& limits) {
  FdeRows out{range, {}};
  uint64_t pc = range.start;
  while (pc < range.end) {
    if (out.rows.size() >= limits.max_rows_per_fde) {
      out.rows.push_back(Unsupported(pc));
      break;
    }
    Dwarf_Frame* raw = nullptr;
    if (dwarf_cfi_addrframe(cfi, pc, &raw) != 0 || raw == nullptr) {
      // The FDE's instructions are broken from here on.
      out.rows.push_back(Unsupported(pc));
      break;
    }
    std::unique_ptr<Dwarf_Frame, decltype(&free)> frame(raw, &free);
    Dwarf_Addr start = 0;
    Dwarf_Addr end = 0;
    bool signal = false;
    const int ra_register = dwarf_frame_info(frame.get(), &start, &end, &signal);
    const UnwindRow row{static_cast<uint32_t>(pc), Classify(frame.get(), ra_register, signal)};
    if (out.rows.empty() || !SameRule(out.rows.back().info, row.info)) out.rows.push_back(row);
    // A hostile or overlapping FDE could report a range that does not advance.
    if (end <= pc) break;
    pc = end;
  }
  return out;
}

struct CfiSection {
  Elf_Data* data = nullptr;
  uint64_t address = 0;
  bool eh_frame = false;
};

// The section's size in memory once read: its file size, or its declared size decompressed.
uint64_t SizeInMemory(Elf_Scn* scn, const GElf_Shdr& shdr) {
  GElf_Chdr chdr;
  if ((shdr.sh_flags & SHF_COMPRESSED) != 0 && gelf_getchdr(scn, &chdr) != nullptr) {
    return std::max<uint64_t>(shdr.sh_size, chdr.ch_size);
  }
  return shdr.sh_size;
}

Result<CfiSection> FindCfiSection(Elf* elf, uint64_t max_section_bytes) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return CfiSection{};
  CfiSection debug_frame;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_PROGBITS) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (name == nullptr) continue;
    const bool is_eh = std::strcmp(name, ".eh_frame") == 0;
    if (!is_eh && std::strcmp(name, ".debug_frame") != 0) continue;
    if (const uint64_t size = SizeInMemory(scn, shdr); size > max_section_bytes) {
      return Status::TooLargef("{} is {} bytes (limit {}, [symbols] max_section_mb)", name, size,
                               max_section_bytes);
    }
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr || data->d_size == 0) continue;
    CfiSection section{data, shdr.sh_addr, is_eh};
    if (is_eh) return section;
    debug_frame = section;
  }
  return debug_frame;
}

}  // namespace

Result<UnwindTable> BuildUnwindTable(Elf* elf, const UnwindTableLimits& limits) {
  GElf_Ehdr ehdr;
  if (elf_kind(elf) != ELF_K_ELF || gelf_getehdr(elf, &ehdr) == nullptr) {
    return Status::InvalidInput("not an ELF file");
  }
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_machine != EM_X86_64) {
    return Status::Unsupported("unwind tables are built for x86-64 ELF files only");
  }
  PROFKIT_ASSIGN_OR_RETURN(const CfiSection section, FindCfiSection(elf, limits.max_section_bytes));
  if (section.data == nullptr) return Status::NotFound("no .eh_frame or .debug_frame");

  // libdw's interpreter computes each row; this handle reads the same section.
  Dwarf* dwarf = nullptr;
  Dwarf_CFI* cfi = nullptr;
  if (section.eh_frame) {
    cfi = dwarf_getcfi_elf(elf);
  } else {
    dwarf = dwarf_begin_elf(elf, DWARF_C_READ, nullptr);
    if (dwarf != nullptr) cfi = dwarf_getcfi(dwarf);
  }
  std::unique_ptr<Dwarf, decltype(&dwarf_end)> dwarf_owner(dwarf, &dwarf_end);
  auto cfi_end = [&](Dwarf_CFI* c) {
    if (c != nullptr && section.eh_frame) dwarf_cfi_end(c);
  };
  std::unique_ptr<Dwarf_CFI, decltype(cfi_end)> cfi_owner(cfi, cfi_end);
  if (cfi == nullptr) {
    return Status::InvalidInputf("reading CFI: {}", dwarf_errmsg(-1));
  }

  UnwindTable table;
  table.source = section.eh_frame ? ".eh_frame" : ".debug_frame";
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) == 0) {
    for (size_t i = 0; i < phnum && i < kMaxSegments; ++i) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf, static_cast<int>(i), &phdr) == nullptr) continue;
      if (phdr.p_type != PT_LOAD || (phdr.p_flags & PF_X) == 0) continue;
      table.segments.push_back({phdr.p_offset, phdr.p_vaddr, phdr.p_filesz});
    }
  }
  std::unordered_map<Dwarf_Off, uint8_t> cie_encodings;
  std::vector<FdeRows> fdes;
  Dwarf_Off offset = 0;
  const auto* base = static_cast<const uint8_t*>(section.data->d_buf);
  while (offset < section.data->d_size) {
    Dwarf_Off next = 0;
    Dwarf_CFI_Entry entry;
    const int rc =
        dwarf_next_cfi(ehdr.e_ident, section.data, section.eh_frame, offset, &next, &entry);
    if (rc == 1) break;
    if (rc != 0) {
      // Some errors leave `next` past the broken entry; otherwise nothing after it is readable.
      if (next == static_cast<Dwarf_Off>(-1) || next <= offset) break;
      ++table.skipped_fdes;
      offset = next;
      continue;
    }
    const Dwarf_Off entry_offset = offset;
    if (next <= offset) break;
    offset = next;
    if (dwarf_cfi_cie_p(&entry)) {
      cie_encodings[entry_offset] = FdeEncoding(entry.cie);
      continue;
    }
    if (++table.fde_count > limits.max_fdes) {
      return Status::TooLargef("more than {} FDEs", limits.max_fdes);
    }
    auto cie = cie_encodings.find(entry.fde.CIE_pointer);
    FdeRange range;
    if (cie == cie_encodings.end() ||
        !DecodeFdeRange(entry.fde, cie->second, section.eh_frame, section.address,
                        static_cast<uint64_t>(entry.fde.start - base), &range)) {
      ++table.skipped_fdes;
      continue;
    }
    fdes.push_back(RowsOf(cfi, range, limits));
  }

  std::sort(fdes.begin(), fdes.end(),
            [](const FdeRows& a, const FdeRows& b) { return a.range.start < b.range.start; });
  uint64_t covered_end = 0;
  for (const FdeRows& fde : fdes) {
    if (fde.rows.empty()) continue;
    if (fde.range.start < covered_end) {
      ++table.skipped_fdes;  // overlaps the previous FDE
      continue;
    }
    if (!table.rows.empty() && fde.range.start > covered_end) {
      table.rows.push_back({static_cast<uint32_t>(covered_end), {PROFKIT_UNWIND_NONE, 0, 0}});
    }
    for (const UnwindRow& row : fde.rows) {
      if (!table.rows.empty() && SameRule(table.rows.back().info, row.info)) continue;
      table.rows.push_back(row);
    }
    covered_end = fde.range.end;
    if (table.rows.size() > limits.max_rows) {
      return Status::TooLargef("more than {} unwind rows", limits.max_rows);
    }
  }
  if (table.rows.empty()) return Status::NotFoundf("no usable FDE in {}", table.source);
  table.rows.push_back({static_cast<uint32_t>(covered_end), {PROFKIT_UNWIND_NONE, 0, 0}});
  return table;
}

Result<ElfFile> ElfFile::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Status::FromErrno(fmt::format("open {}", path), err);
  }
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
    Status status = Status::InvalidInputf("{}: not an ELF file: {}", path, elf_errmsg(-1));
    if (elf != nullptr) elf_end(elf);
    close(fd);
    return status;
  }
  return ElfFile(fd, elf);
}

ElfFile::ElfFile(ElfFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), elf_(std::exchange(other.elf_, nullptr)) {}

ElfFile::~ElfFile() {
  if (elf_ != nullptr) elf_end(elf_);
  if (fd_ >= 0) close(fd_);
}

std::string ElfFile::BuildId() const {
  // A GNU build id is 20 bytes (sha1) in practice; a longer note is not an identity to key on.
  constexpr ssize_t kMaxBuildIdBytes = 64;
  const void* bytes = nullptr;
  const ssize_t size = dwelf_elf_gnu_build_id(elf_, &bytes);
  if (size <= 0 || size > kMaxBuildIdBytes) return "";
  return HexString(std::span(static_cast<const uint8_t*>(bytes), static_cast<size_t>(size)));
}

Result<UnwindTable> BuildUnwindTable(const std::string& path, const UnwindTableLimits& limits) {
  Result<ElfFile> file = ElfFile::Open(path);
  if (!file.ok()) return file.status();
  Result<UnwindTable> table = BuildUnwindTable(file->elf(), limits);
  if (!table.ok()) return table.status().WithContext(path);
  return table;
}

std::optional<uint64_t> LoadBias(const std::vector<LoadSegment>& segments, uint64_t start,
                                 uint64_t file_offset) {
  for (const LoadSegment& segment : segments) {
    // The mapping starts at a page boundary at or below the segment's first byte.
    const uint64_t page_start = segment.offset & ~uint64_t{0xfff};
    if (file_offset < page_start || file_offset >= segment.offset + segment.size) continue;
    // Unsigned wrap-around is intended: vaddr may be below the offset.
    return start - (segment.vaddr + file_offset - segment.offset);
  }
  return std::nullopt;
}

const UnwindRow* FindUnwindRow(std::span<const UnwindRow> rows, uint64_t pc) {
  auto it = std::upper_bound(rows.begin(), rows.end(), pc,
                             [](uint64_t value, const UnwindRow& row) { return value < row.pc; });
  if (it == rows.begin()) return nullptr;
  return &*std::prev(it);
}

}  // namespace profkit::unwind
