#include "dwarf_frames.h"

#include <dwarf.h>
#include <gelf.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

#include "demangle.h"
#include "elf_file.h"

namespace profkit::symbolize {
namespace {

// Address ranges indexed per file; a compile unit rarely has more than a few, and this bounds the
// index of a hostile file (about 48 MiB at the limit).
constexpr size_t kMaxUnitRanges = 1 << 20;
// Inline nesting reported per address; deeper chains keep their innermost frames.
constexpr size_t kMaxInlineDepth = 64;

// Scopes indexed per unit; bounds the index of a hostile file (a real unit has thousands).
constexpr size_t kMaxScopesPerUnit = 1 << 20;
// DIE nesting followed while indexing; real code nests a few dozen levels.
constexpr size_t kMaxDieDepth = 512;

bool IsFunction(Dwarf_Die* die) {
  const int tag = dwarf_tag(die);
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
}

// The mangled name, nullptr when the producer wrote none (GCC omits it for functions with
// internal linkage, and for their out-of-line clones).
const char* LinkageName(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int name : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
    if (dwarf_attr_integrate(die, name, &attr) != nullptr) {
      if (const char* s = dwarf_formstring(&attr); s != nullptr) return s;
    }
  }
  return nullptr;
}

const char* PlainName(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  const char* s =
      dwarf_attr_integrate(die, DW_AT_name, &attr) != nullptr ? dwarf_formstring(&attr) : nullptr;
  return s != nullptr ? s : "";
}

int64_t DeclLine(Dwarf_Die* die) {
  int line = 0;
  return dwarf_decl_line(die, &line) == 0 ? line : 0;
}

uint64_t UnsignedAttribute(Dwarf_Die* die, int name, uint64_t missing) {
  Dwarf_Attribute attr;
  Dwarf_Word value = 0;
  if (dwarf_attr(die, name, &attr) == nullptr || dwarf_formudata(&attr, &value) != 0)
    return missing;
  return value;
}

// Source file of a DW_AT_call_file index in the unit's file table.
std::string UnitFile(Dwarf_Die* cu, uint64_t index) {
  Dwarf_Files* files = nullptr;
  size_t count = 0;
  if (dwarf_getsrcfiles(cu, &files, &count) != 0 || index >= count) return "";
  const char* name = dwarf_filesrc(files, index, nullptr, nullptr);
  return name != nullptr ? name : "";
}

struct ScopeRange {
  uint64_t start;
  uint64_t end;
  size_t depth;
  int32_t scope;
};

// Paints [start, end) with `scope` over what is painted already; deeper scopes are painted after
// the ones that contain them, so each address ends up with its innermost scope.
void Paint(std::map<uint64_t, int32_t>& painted, const ScopeRange& range) {
  auto after = painted.upper_bound(range.end);
  const int32_t at_end = after == painted.begin() ? -1 : std::prev(after)->second;
  painted.erase(painted.lower_bound(range.start), after);
  painted[range.start] = range.scope;
  painted[range.end] = at_end;
}

// What libdw keeps per line-table row (Dwarf_Line, with its share of the table and of libdw's
// allocation blocks), and per indexed unit besides (its abbreviations, file table, the index's hash
// node): measured with mallinfo2 around dwarf_getsrclines on libc6-dbg's 2,063 units (67 bytes
// per line on average, 80 in its largest units, elfutils 0.188), enough for a budget.
constexpr size_t kBytesPerLine = 80;
constexpr size_t kBytesPerUnit = 4096;
// What libdw keeps for every unit the index walks over (its Dwarf_CU, abbreviations read for the
// unit DIE, range lists): 4.6 MiB for libc6-dbg's 2,063 units in a heap profile (heaptrack).
constexpr size_t kBytesPerWalkedUnit = 2048;

}  // namespace

size_t DecompressedDebugBytes(Elf* elf) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return 0;
  size_t bytes = 0;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || (shdr.sh_flags & SHF_COMPRESSED) == 0) continue;
    const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
    GElf_Chdr chdr;
    if (name == nullptr || !std::string_view(name).starts_with(".debug")) continue;
    if (gelf_getchdr(scn, &chdr) != nullptr) bytes += chdr.ch_size;
  }
  return bytes;
}

Result<std::unique_ptr<DwarfFrames>> DwarfFrames::Open(Elf* elf, const ElfReadLimits& limits,
                                                       size_t decompressed_bytes) {
  Dwarf* dwarf = dwarf_begin_elf(elf, DWARF_C_READ, nullptr);
  if (dwarf == nullptr) {
    elf_end(elf);
    return Status::InvalidInputf("dwarf_begin_elf: {}", dwarf_errmsg(-1));
  }
  std::unique_ptr<DwarfFrames> frames(new DwarfFrames(elf, dwarf, limits));
  frames->Account(decompressed_bytes);
  const size_t walked_units = frames->IndexUnits(limits);
  frames->ranges_.shrink_to_fit();
  frames->Account(walked_units * kBytesPerWalkedUnit +
                  frames->ranges_.capacity() * sizeof(CuRange));
  return frames;
}

DwarfFrames::~DwarfFrames() {
  limits_.dwarf_bytes.fetch_sub(memory_bytes_, std::memory_order_relaxed);
  dwarf_end(dwarf_);
  elf_end(elf_);
}

void DwarfFrames::Account(size_t bytes) {
  memory_bytes_ += bytes;
  limits_.dwarf_bytes.fetch_add(bytes, std::memory_order_relaxed);
}

size_t DwarfFrames::IndexUnits(const ElfReadLimits& limits) {
  Dwarf_CU* cu = nullptr;
  Dwarf_Die cu_die;
  uint8_t unit_type = 0;
  size_t units = 0;
  while (dwarf_get_units(dwarf_, cu, &cu, nullptr, &unit_type, &cu_die, nullptr) == 0) {
    // libdw keeps every unit it has walked over; the bound caps that and the walk's time.
    if (++units > limits.max_dwarf_units) {
      limits.dwarf_unit_limit_hits.fetch_add(1, std::memory_order_relaxed);
      break;
    }
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
  return units;
}

const Dwarf_Die* DwarfFrames::FindUnit(uint64_t address) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                             [](uint64_t a, const CuRange& r) { return a < r.start; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return address < it->end ? &it->cu : nullptr;
}

const DwarfFrames::UnitIndex& DwarfFrames::IndexOf(Dwarf_Die* cu) {
  auto [it, inserted] = units_.try_emplace(dwarf_dieoffset(cu));
  UnitIndex& index = it->second;
  if (!inserted) return index;

  std::vector<ScopeRange> ranges;
  struct Pending {
    Dwarf_Die die;
    int32_t scope;  // innermost function scope enclosing `die`
    size_t depth;
  };
  std::vector<Pending> stack;
  Dwarf_Die child;
  if (dwarf_child(cu, &child) == 0) stack.push_back({child, -1, 1});
  while (!stack.empty() && index.scopes.size() < kMaxScopesPerUnit) {
    Pending current = stack.back();
    stack.pop_back();
    Dwarf_Die sibling;
    if (dwarf_siblingof(&current.die, &sibling) == 0)
      stack.push_back({sibling, current.scope, current.depth});

    int32_t enclosing = current.scope;
    if (IsFunction(&current.die)) {
      const auto id = static_cast<int32_t>(index.scopes.size());
      const bool inlined = dwarf_tag(&current.die) == DW_TAG_inlined_subroutine;
      Dwarf_Addr base = 0;
      Dwarf_Addr start = 0;
      Dwarf_Addr end = 0;
      bool has_code = false;
      for (ptrdiff_t off = 0; (off = dwarf_ranges(&current.die, off, &base, &start, &end)) > 0;) {
        if (start >= end) continue;
        ranges.push_back({start, end, current.depth, id});
        has_code = true;
      }
      // An inlined instance without code holds nothing concrete. A subprogram without code (a
      // declaration, an abstract instance, or GCC's out-of-line DIE of a member defined in its
      // class) can still hold concrete functions: the static invoker `_FUN` of a lambda's closure
      // type sits in a structure type inside it. Its subtree is walked, in the enclosing scope.
      if (!has_code) {
        if (!inlined && current.depth < kMaxDieDepth && dwarf_child(&current.die, &child) == 0) {
          stack.push_back({child, current.scope, current.depth + 1});
        }
        continue;
      }
      const char* linkage_name = LinkageName(&current.die);
      index.scopes.push_back(Scope{
          .system_name = linkage_name != nullptr ? linkage_name : PlainName(&current.die),
          .has_linkage_name = linkage_name != nullptr,
          .start_line = DeclLine(&current.die),
          .call_line =
              inlined ? static_cast<int64_t>(UnsignedAttribute(&current.die, DW_AT_call_line, 0))
                      : 0,
          .call_file =
              inlined ? UnsignedAttribute(&current.die, DW_AT_call_file, kNoCallFile) : kNoCallFile,
          .parent = inlined ? current.scope : -1});
      enclosing = id;
    }
    if (current.depth < kMaxDieDepth && dwarf_child(&current.die, &child) == 0) {
      stack.push_back({child, enclosing, current.depth + 1});
    }
  }

  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const ScopeRange& a, const ScopeRange& b) { return a.depth < b.depth; });
  std::map<uint64_t, int32_t> painted;
  for (const ScopeRange& range : ranges) Paint(painted, range);
  for (const auto& [start, scope] : painted) {
    if (!index.innermost.empty() && index.innermost.back().scope == scope) continue;
    index.innermost.push_back({start, scope});
  }
  index.innermost.shrink_to_fit();
  index.scopes.shrink_to_fit();
  // Lookups read the unit's line table: parsed now, so that it is counted with the unit.
  Dwarf_Lines* lines = nullptr;
  size_t line_count = 0;
  if (dwarf_getsrclines(cu, &lines, &line_count) != 0) line_count = 0;
  Account(kBytesPerUnit + index.scopes.capacity() * sizeof(Scope) +
          index.innermost.capacity() * sizeof(UnitIndex::Boundary) + line_count * kBytesPerLine);
  return index;
}

std::optional<std::vector<SymbolizedLine>> DwarfFrames::Lookup(uint64_t address,
                                                               bool may_index_unit) {
  std::vector<SymbolizedLine> frames;
  const Dwarf_Die* found = FindUnit(address);
  if (found == nullptr) return frames;
  Dwarf_Die cu = *found;
  if (!may_index_unit && !units_.contains(dwarf_dieoffset(&cu))) return std::nullopt;
  const UnitIndex& index = IndexOf(&cu);
  auto boundary =
      std::upper_bound(index.innermost.begin(), index.innermost.end(), address,
                       [](uint64_t a, const UnitIndex::Boundary& b) { return a < b.start; });
  if (boundary == index.innermost.begin()) return frames;
  int32_t scope_id = std::prev(boundary)->scope;

  std::string file;
  int64_t line = 0;
  if (Dwarf_Line* row = dwarf_getsrc_die(&cu, address); row != nullptr) {
    if (const char* src = dwarf_linesrc(row, nullptr, nullptr); src != nullptr) file = src;
    int lineno = 0;
    if (dwarf_lineno(row, &lineno) == 0) line = lineno;
  }
  while (scope_id >= 0 && frames.size() < kMaxInlineDepth) {
    const Scope& scope = index.scopes[static_cast<size_t>(scope_id)];
    SymbolizedLine frame;
    // A function's bare DW_AT_name ("TestBody", "operator()") says less than its ELF symbol; the
    // caller (NativeSymbolizer::Symbolize) names the outermost frame from the symbol table.
    if (scope.parent >= 0 || scope.has_linkage_name) {
      frame.system_name = scope.system_name;
      frame.function = Demangle(frame.system_name);
    }
    frame.file = file;
    frame.line = line;
    frame.start_line = scope.start_line;
    frames.push_back(std::move(frame));
    // The caller's position is the call site of this inlined instance.
    file = scope.call_file == kNoCallFile ? "" : UnitFile(&cu, scope.call_file);
    line = scope.call_line;
    scope_id = scope.parent;
  }
  return frames;
}

}  // namespace profkit::symbolize
