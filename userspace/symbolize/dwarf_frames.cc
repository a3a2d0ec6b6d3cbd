#include "dwarf_frames.h"

#include <dwarf.h>

#include <algorithm>
#include <cstdlib>

#include "demangle.h"

namespace profkit::symbolize {
namespace {

// Address ranges indexed per file; a compile unit rarely has more than a few, and this bounds the
// index of a hostile file (about 48 MiB at the limit).
constexpr size_t kMaxUnitRanges = 1 << 20;
// Inline nesting reported per address; deeper chains keep their innermost frames.
constexpr size_t kMaxInlineDepth = 64;

bool IsFunction(Dwarf_Die* die) {
  const int tag = dwarf_tag(die);
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
}

std::string LinkageName(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int name : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_name}) {
    if (dwarf_attr_integrate(die, name, &attr) != nullptr) {
      if (const char* s = dwarf_formstring(&attr); s != nullptr) return s;
    }
  }
  return "";
}

int64_t DeclLine(Dwarf_Die* die) {
  int line = 0;
  return dwarf_decl_line(die, &line) == 0 ? line : 0;
}

// Source file of a DW_AT_call_file index in the unit's file table.
std::string CallFile(Dwarf_Die* cu, Dwarf_Die* inlined) {
  Dwarf_Attribute attr;
  Dwarf_Word index = 0;
  if (dwarf_attr(inlined, DW_AT_call_file, &attr) == nullptr || dwarf_formudata(&attr, &index) != 0) {
    return "";
  }
  Dwarf_Files* files = nullptr;
  size_t count = 0;
  if (dwarf_getsrcfiles(cu, &files, &count) != 0 || index >= count) return "";
  const char* name = dwarf_filesrc(files, index, nullptr, nullptr);
  return name != nullptr ? name : "";
}

int64_t CallLine(Dwarf_Die* inlined) {
  Dwarf_Attribute attr;
  Dwarf_Word line = 0;
  if (dwarf_attr(inlined, DW_AT_call_line, &attr) == nullptr || dwarf_formudata(&attr, &line) != 0) {
    return 0;
  }
  return static_cast<int64_t>(line);
}

}  // namespace

Result<std::unique_ptr<DwarfFrames>> DwarfFrames::Open(Elf* elf) {
  Dwarf* dwarf = dwarf_begin_elf(elf, DWARF_C_READ, nullptr);
  if (dwarf == nullptr) {
    elf_end(elf);
    return Status::Errorf("dwarf_begin_elf: {}", dwarf_errmsg(-1));
  }
  std::unique_ptr<DwarfFrames> frames(new DwarfFrames(elf, dwarf));
  frames->IndexUnits();
  return frames;
}

DwarfFrames::~DwarfFrames() {
  dwarf_end(dwarf_);
  elf_end(elf_);
}

void DwarfFrames::IndexUnits() {
  Dwarf_CU* cu = nullptr;
  Dwarf_Die cu_die;
  uint8_t unit_type = 0;
  while (dwarf_get_units(dwarf_, cu, &cu, nullptr, &unit_type, &cu_die, nullptr) == 0) {
    if (unit_type != DW_UT_compile && unit_type != DW_UT_partial) continue;
    Dwarf_Addr base = 0;
    Dwarf_Addr start = 0;
    Dwarf_Addr end = 0;
    for (ptrdiff_t off = 0; (off = dwarf_ranges(&cu_die, off, &base, &start, &end)) > 0;) {
      if (ranges_.size() >= kMaxUnitRanges) break;
      if (start < end) ranges_.push_back({start, end, cu_die});
    }
  }
  std::sort(ranges_.begin(), ranges_.end(),
            [](const CuRange& a, const CuRange& b) { return a.start < b.start; });
}

const Dwarf_Die* DwarfFrames::FindUnit(uint64_t address) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                             [](uint64_t a, const CuRange& r) { return a < r.start; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return address < it->end ? &it->cu : nullptr;
}

std::vector<SymbolizedLine> DwarfFrames::Lookup(uint64_t address) {
  std::vector<SymbolizedLine> frames;
  const Dwarf_Die* found = FindUnit(address);
  if (found == nullptr) return frames;
  Dwarf_Die cu = *found;

  std::string file;
  int64_t line = 0;
  if (Dwarf_Line* row = dwarf_getsrc_die(&cu, address); row != nullptr) {
    if (const char* src = dwarf_linesrc(row, nullptr, nullptr); src != nullptr) file = src;
    int lineno = 0;
    if (dwarf_lineno(row, &lineno) == 0) line = lineno;
  }

  // dwarf_getscopes follows an inlined instance into its abstract definition, so it yields the
  // innermost function only; the concrete callers come from dwarf_getscopes_die on that instance.
  Dwarf_Die* scopes = nullptr;
  const int count = dwarf_getscopes(&cu, address, &scopes);
  Dwarf_Die* chain = nullptr;
  int chain_count = 0;
  for (int i = 0; i < count; ++i) {
    if (IsFunction(&scopes[i])) {
      chain_count = dwarf_getscopes_die(&scopes[i], &chain);
      break;
    }
  }
  free(scopes);
  for (int i = 0; i < chain_count && frames.size() < kMaxInlineDepth; ++i) {
    Dwarf_Die* scope = &chain[i];
    if (!IsFunction(scope)) continue;
    SymbolizedLine frame;
    frame.system_name = LinkageName(scope);
    frame.function = Demangle(frame.system_name);
    frame.file = file;
    frame.line = line;
    frame.start_line = DeclLine(scope);
    frames.push_back(std::move(frame));
    if (dwarf_tag(scope) == DW_TAG_subprogram) break;
    // The caller's position is the call site of this inlined instance.
    file = CallFile(&cu, scope);
    line = CallLine(scope);
  }
  free(chain);
  return frames;
}

}  // namespace profkit::symbolize
