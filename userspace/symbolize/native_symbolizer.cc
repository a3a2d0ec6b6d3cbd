#include "profkit/symbolize/native_symbolizer.h"

#include <algorithm>
#include <limits>
#include <utility>

#include <cstdlib>

#include "debug_file_finder.h"
#include "debuginfod_fetcher.h"
#include "demangle.h"
#include "elf_file.h"
#include "profkit/common/log.h"
#include "symbol_table.h"

namespace profkit::symbolize {
namespace {

// Failures on the lookup path repeat for every frame of a broken file; one line per minute.
constexpr int64_t kLogIntervalNs = 60'000'000'000;

std::string TableKey(const ModuleKey& key, const std::string& build_id) {
  if (!build_id.empty()) return "build-id:" + build_id;
  return fmt::format("inode:{}:{}", key.dev, key.inode);
}

}  // namespace

struct NativeSymbolizer::ModuleState {
  uint32_t id = 0;
  ModuleKey key;
  ModuleInfo info;
  std::vector<std::string> candidates;
  std::vector<LoadSegment> segments;
  std::string table_key;
  bool has_debug_info = false;
  std::string root;  // the process's root directory for debug file lookups, "" = the host
  // Where symbols and DWARF come from when not from `file`: found once per open of `file` and
  // closed with it.
  bool debug_resolved = false;
  std::unique_ptr<ElfFile> debug_file;
  DebugSource debug_source = DebugSource::kNone;
  // Nothing local had DWARF and debuginfod was asked: an arrival makes the module look again.
  bool awaiting_debuginfod = false;
  // Set once a reopen failed: the processes behind `candidates` are gone, so further attempts are
  // wasted until AddModule brings new candidates.
  bool gone = false;
  std::unique_ptr<ElfFile> file;
  std::list<uint32_t>::iterator open_position;  // in open_lru_, valid while `file` is set
  uint64_t dwarf_used_at = 0;                   // dwarf_use_sequence_ of its last DWARF lookup
};

// A released module's files: its own (holding .eh_frame) and the one whose DWARF names its frames.
struct NativeSymbolizer::KeptDwarf {
  std::unique_ptr<ElfFile> file;
  std::unique_ptr<ElfFile> debug_file;
  DebugSource debug_source = DebugSource::kNone;
  std::list<std::string>::iterator position;  // in kept_dwarf_lru_
};

struct NativeSymbolizer::TableEntry {
  SymbolTable table;
  size_t bytes = 0;
  std::list<std::string>::iterator position;  // in table_lru_
};

NativeSymbolizer::NativeSymbolizer(NativeSymbolizerLimits limits, DebugInfoOptions debug)
    : limits_(limits),
      elf_limits_(std::make_unique<ElfReadLimits>()),
      debug_options_(std::move(debug)) {
  limits_.max_open_files = std::max<size_t>(limits_.max_open_files, 1);
  elf_limits_->max_section_bytes = limits_.max_section_bytes;
  elf_limits_->max_dwarf_units = limits_.max_dwarf_units;
  std::string urls;
  if (debug_options_.debuginfod_urls) {
    urls = *debug_options_.debuginfod_urls;
  } else if (const char* env = std::getenv("DEBUGINFOD_URLS"); env != nullptr) {
    urls = env;
  }
  fetcher_ = DebuginfodFetcher::Start(urls, debug_options_);
  if (fetcher_) {
    spdlog::info("debuginfod: names of stripped modules without local debug files from {}", urls);
  }
}

NativeSymbolizer::Counters NativeSymbolizer::counters() const {
  const std::lock_guard lock(mutex_);
  Counters counters = counters_;
  counters.oversized_sections = elf_limits_->oversized_sections.load(std::memory_order_relaxed);
  counters.dwarf_bytes = elf_limits_->dwarf_bytes.load(std::memory_order_relaxed);
  counters.dwarf_unit_limit_hits =
      elf_limits_->dwarf_unit_limit_hits.load(std::memory_order_relaxed);
  if (fetcher_) counters.debuginfod = fetcher_->counters();
  return counters;
}

uint64_t NativeSymbolizer::names_generation() const {
  return fetcher_ ? fetcher_->generation() : 0;
}

NativeSymbolizer::~NativeSymbolizer() = default;

Result<uint32_t> NativeSymbolizer::AddModule(const ModuleKey& key, const std::string& path,
                                             const std::vector<std::string>& open_candidates,
                                             const std::string& root) {
  const std::lock_guard lock(mutex_);
  if (auto it = ids_by_key_.find(key); it != ids_by_key_.end()) {
    // The newest mapper's paths are the likeliest to still open once the file is closed.
    ModuleState& module = *modules_.at(it->second);
    module.candidates = open_candidates;
    module.root = root;
    module.gone = false;
    return it->second;
  }
  if (modules_.size() >= limits_.max_modules) {
    ++counters_.module_limit_hits;
    return Status::TooLargef("adding module {}: {} modules interned (limit max_modules)", path,
                             limits_.max_modules);
  }
  if (next_id_ == std::numeric_limits<uint32_t>::max()) {
    return Status::TooLargef("adding module {}: module ids exhausted", path);
  }
  PROFKIT_ASSIGN_OR_RETURN(std::unique_ptr<ElfFile> file,
                           OpenFirst(path, open_candidates, nullptr));

  auto module = std::make_unique<ModuleState>();
  module->id = next_id_++;
  module->key = key;
  module->info = {path, file->build_id(), file->file_size()};
  module->candidates = open_candidates;
  module->segments = file->segments();
  module->table_key = TableKey(key, file->build_id());
  module->has_debug_info = file->has_debug_info();
  module->root = root;
  module->file = std::move(file);
  AdoptKeptDwarf(*module);
  open_lru_.push_front(module->id);
  module->open_position = open_lru_.begin();

  const uint32_t id = module->id;
  ModuleState* added = module.get();
  modules_.emplace(id, std::move(module));
  ids_by_key_.emplace(key, id);
  counters_.modules = modules_.size();
  CloseFilesOverLimit(added);
  return id;
}

const ModuleInfo* NativeSymbolizer::Module(uint32_t id) const {
  const std::lock_guard lock(mutex_);
  auto it = modules_.find(id);
  return it == modules_.end() ? nullptr : &it->second->info;
}

std::vector<SymbolizedLine> NativeSymbolizer::Symbolize(uint32_t id, uint64_t file_offset) {
  const std::lock_guard lock(mutex_);
  ++counters_.lookups;
  if (fetcher_ && fetcher_->generation() != seen_generation_) RetryAwaitingModules();
  std::vector<SymbolizedLine> frames;
  auto it = modules_.find(id);
  if (it != modules_.end()) {
    ModuleState& module = *it->second;
    const std::optional<uint64_t> address = FileOffsetToAddress(module.segments, file_offset);
    const SymbolTable* table = address ? EnsureTable(module) : nullptr;
    const std::optional<std::string_view> symbol = table ? table->Find(*address) : std::nullopt;
    if (symbol) {
      ElfFile* file = DwarfFile(module);
      // Past the budget the open DWARF does not grow until TrimDwarf, and a file is opened only
      // if what it decompresses fits in what is left and in a third of the budget (see
      // NativeSymbolizerLimits).
      const size_t budget = limits_.max_dwarf_memory_bytes;
      const size_t used = elf_limits_->dwarf_bytes.load(std::memory_order_relaxed);
      const bool may_grow = used < budget;
      DwarfFrames* dwarf = nullptr;
      if (file != nullptr && (may_grow || file->dwarf_loaded())) {
        dwarf = file->dwarf(may_grow ? std::min(budget - used, budget / 3) : 0);
        if (file->dwarf_over_budget()) ++counters_.dwarf_budget_skips;
      } else if (file != nullptr) {
        ++counters_.dwarf_budget_skips;
      }
      if (dwarf != nullptr) {
        std::optional<std::vector<SymbolizedLine>> found = dwarf->Lookup(*address, may_grow);
        if (found) {
          frames = std::move(*found);
        } else {
          ++counters_.dwarf_budget_skips;
        }
        module.dwarf_used_at = ++dwarf_use_sequence_;
      }
      // The outermost frame is the out-of-line function that runs, which its ELF symbol names
      // exactly: a clone (".constprop.0", ".cold") or the complete-object constructor (C1) whose
      // DWARF subprogram is the shared C4 one. llvm-addr2line names it the same way.
      if (frames.empty()) frames.emplace_back();
      frames.back().system_name = std::string(*symbol);
      frames.back().function = Demangle(*symbol);
    }
  }
  if (frames.empty()) ++counters_.misses;
  return frames;
}

std::optional<uint64_t> NativeSymbolizer::ReturnAddressOffsetFromSp(uint32_t id,
                                                                    uint64_t file_offset) {
  const std::lock_guard lock(mutex_);
  ++counters_.cfi_lookups;
  FrameRule rule;
  if (auto it = modules_.find(id); it != modules_.end()) {
    ModuleState& module = *it->second;
    const std::optional<uint64_t> address = FileOffsetToAddress(module.segments, file_offset);
    ElfFile* file = address ? EnsureOpen(module) : nullptr;
    if (file != nullptr) {
      // .eh_frame is what the runtime unwinds with; .debug_frame only stands in where it is absent
      // (-fno-asynchronous-unwind-tables), so it is consulted when .eh_frame has no row.
      if (Dwarf_CFI* cfi = file->eh_frame(); cfi != nullptr) rule = FindFrameRule(cfi, *address);
      if (rule.base == FrameRule::Base::kUncovered && module.has_debug_info) {
        DwarfFrames* dwarf = file->dwarf();
        Dwarf_CFI* cfi = dwarf != nullptr ? dwarf->debug_frame() : nullptr;
        if (cfi != nullptr) rule = FindFrameRule(cfi, *address);
      }
    }
  }
  switch (rule.base) {
    case FrameRule::Base::kStackPointer:
      return rule.return_address_offset;
    case FrameRule::Base::kOtherRegister:
      return std::nullopt;
    case FrameRule::Base::kUncovered:
    case FrameRule::Base::kUnusable:
      break;
  }
  ++counters_.cfi_misses;
  return std::nullopt;
}

void NativeSymbolizer::CloseCfi(uint32_t id) {
  const std::lock_guard lock(mutex_);
  auto it = modules_.find(id);
  if (it != modules_.end() && it->second->file) it->second->file->CloseEhFrame();
}

Result<ElfFile*> NativeSymbolizer::OpenModule(uint32_t id) {
  auto it = modules_.find(id);
  ElfFile* file = it == modules_.end() ? nullptr : EnsureOpen(*it->second);
  if (file == nullptr) return Status::NotFoundf("module {} is unknown or cannot be opened", id);
  return file;
}

Result<std::vector<std::optional<NativeSymbolizer::Symbol>>> NativeSymbolizer::FindSymbols(
    uint32_t id, std::span<const std::string_view> names) {
  const std::lock_guard lock(mutex_);
  PROFKIT_ASSIGN_OR_RETURN(ElfFile * file, OpenModule(id));
  PROFKIT_ASSIGN_OR_RETURN(auto found, file->FindSymbols(names));
  std::vector<std::optional<Symbol>> symbols;
  symbols.reserve(found.size());
  for (const auto& symbol : found) {
    symbols.push_back(symbol ? std::optional<Symbol>(Symbol{symbol->address, symbol->size})
                             : std::nullopt);
  }
  return symbols;
}

Result<std::string> NativeSymbolizer::ReadAtAddress(uint32_t id, uint64_t address, size_t size) {
  const std::lock_guard lock(mutex_);
  PROFKIT_ASSIGN_OR_RETURN(ElfFile * file, OpenModule(id));
  return file->ReadAtAddress(address, size);
}

Result<std::string> NativeSymbolizer::ReadSection(uint32_t id, std::string_view name,
                                                  size_t max_bytes) {
  const std::lock_guard lock(mutex_);
  PROFKIT_ASSIGN_OR_RETURN(ElfFile * file, OpenModule(id));
  return file->ReadSection(name, max_bytes);
}

std::optional<uint64_t> NativeSymbolizer::AddressOfFileOffset(uint32_t id,
                                                              uint64_t file_offset) const {
  const std::lock_guard lock(mutex_);
  auto it = modules_.find(id);
  if (it == modules_.end()) return std::nullopt;
  return FileOffsetToAddress(it->second->segments, file_offset);
}

void NativeSymbolizer::ReleaseModule(uint32_t id) {
  const std::lock_guard lock(mutex_);
  auto it = modules_.find(id);
  if (it == modules_.end()) return;
  // The symbol table stays cached: the same binary is often mapped again by the next process.
  if (it->second->file) {
    open_lru_.erase(it->second->open_position);
    KeepDwarf(*it->second);
  }
  ids_by_key_.erase(it->second->key);
  modules_.erase(it);
  counters_.modules = modules_.size();
}

Result<std::unique_ptr<ElfFile>> NativeSymbolizer::OpenFirst(
    const std::string& path, const std::vector<std::string>& candidates, const ModuleInfo* expect) {
  std::string errors;
  for (const std::string& candidate : candidates) {
    auto file = ElfFile::Open(candidate, ElfFile::Role::kModule, *elf_limits_);
    if (file.ok() && expect != nullptr) {
      // A reopened path may now hold another file; the build id (else the size) must match.
      const bool same = expect->build_id.empty() ? (*file)->file_size() == expect->file_size
                                                 : (*file)->build_id() == expect->build_id;
      if (!same) file = Status::NotFoundf("{}: no longer the file first opened", candidate);
    }
    if (file.ok()) return file;
    if (!errors.empty()) errors += "; ";
    errors += file.status().message();
  }
  ++counters_.open_failures;
  if (candidates.empty()) errors = "no open candidates";
  return Status::NotFoundf("opening {}: {}", path, errors);
}

ElfFile* NativeSymbolizer::EnsureOpen(ModuleState& module) {
  if (module.file) {
    open_lru_.splice(open_lru_.begin(), open_lru_, module.open_position);
    return module.file.get();
  }
  if (module.gone) return nullptr;
  auto file = OpenFirst(module.info.path, module.candidates, &module.info);
  if (!file.ok()) {
    module.gone = true;
    static LogLimiter limiter(kLogIntervalNs);
    if (const int64_t suppressed = limiter.Allow(); suppressed >= 0) {
      spdlog::info("{} ({} similar suppressed)", file.status().message(), suppressed);
    }
    return nullptr;
  }
  module.file = std::move(file).value();
  open_lru_.push_front(module.id);
  module.open_position = open_lru_.begin();
  CloseFilesOverLimit(&module);
  return module.file.get();
}

void NativeSymbolizer::CloseFilesOverLimit(const ModuleState* keep) {
  while (open_lru_.size() > limits_.max_open_files && open_lru_.back() != keep->id) {
    ModuleState& victim = *modules_.at(open_lru_.back());
    open_lru_.pop_back();
    victim.file.reset();
    victim.debug_file.reset();
    victim.debug_resolved = false;
    ++counters_.file_closes;
  }
}

const SymbolTable* NativeSymbolizer::EnsureTable(ModuleState& module) {
  if (auto it = tables_.find(module.table_key); it != tables_.end()) {
    table_lru_.splice(table_lru_.begin(), table_lru_, it->second->position);
    return &it->second->table;
  }
  ElfFile* file = EnsureOpen(module);
  if (file == nullptr) return nullptr;
  ResolveDebugFile(module, *file);
  auto entry = std::make_unique<TableEntry>();
  // MiniDebugInfo holds only the functions .dynsym lacks, so the module's own symbols join it; a
  // full debug file's .symtab holds them all, and the file's .dynsym only adds duplicates.
  SymbolTable::Builder builder;
  Result<bool> complete = true;
  if (module.debug_file && module.debug_file->has_symtab()) {
    complete = module.debug_file->AppendSymbols(&builder);
  }
  if (complete.ok() && *complete &&
      (builder.count() == 0 || module.debug_source == DebugSource::kMiniDebugInfo)) {
    complete = file->AppendSymbols(&builder);
  }
  if (complete.ok()) {
    if (!*complete) ++counters_.truncated_tables;
    entry->table = std::move(builder).Build();
  } else {
    const Status& failure = complete.status();
    // Cached empty, so a broken file costs one read, not one per lookup.
    static LogLimiter limiter(kLogIntervalNs);
    if (const int64_t suppressed = limiter.Allow(); suppressed >= 0) {
      spdlog::warn("reading symbols of {}: {} ({} similar suppressed)", module.info.path,
                   failure.message(), suppressed);
    }
  }
  entry->bytes = entry->table.MemoryBytes() + sizeof(TableEntry) + module.table_key.size();
  table_lru_.push_front(module.table_key);
  entry->position = table_lru_.begin();
  table_bytes_ += entry->bytes;
  const SymbolTable* table = &entry->table;
  tables_.emplace(module.table_key, std::move(entry));
  EvictTablesOverLimit(module.table_key);
  return table;
}

void NativeSymbolizer::ResolveDebugFile(ModuleState& module, ElfFile& file) {
  if (module.debug_resolved) return;
  module.debug_resolved = true;
  module.awaiting_debuginfod = false;
  if (file.has_debug_info() && file.has_symtab()) return;  // the file itself is the best

  FoundDebugFile found =
      FindSeparateDebugFile(file, module.info.path, module.root, debug_options_.debug_dirs);
  if (found.source == DebugSource::kNone && !file.has_symtab()) {
    auto mini = OpenMiniDebugInfo(file);
    if (mini.ok() && (*mini)->has_symtab()) {
      found = {std::move(mini).value(), DebugSource::kMiniDebugInfo};
    } else if (!mini.ok() && mini.status().code() != StatusCode::kNotFound) {
      static LogLimiter limiter(kLogIntervalNs);
      if (const int64_t suppressed = limiter.Allow(); suppressed >= 0) {
        spdlog::warn("{} ({} similar suppressed)", mini.status().message(), suppressed);
      }
    }
  }
  // MiniDebugInfo names functions but has no lines: debuginfod may still have the DWARF.
  const bool has_dwarf = file.has_debug_info() || (found.file && found.file->has_debug_info());
  if (!has_dwarf && fetcher_ && !module.info.build_id.empty()) {
    if (std::optional<std::string> path = fetcher_->Lookup(module.info.build_id)) {
      auto downloaded = OpenDebugFileFor(*path, module.info.build_id, *elf_limits_);
      if (downloaded.ok() && Useful(**downloaded)) {
        found = {std::move(downloaded).value(), DebugSource::kDebuginfod};
      }
    } else {
      module.awaiting_debuginfod = true;
    }
  }
  switch (found.source) {
    case DebugSource::kNone:
      return;
    case DebugSource::kBuildIdPath:
      ++counters_.debug_build_id_files;
      break;
    case DebugSource::kDebugLink:
      ++counters_.debug_link_files;
      break;
    case DebugSource::kMiniDebugInfo:
      ++counters_.mini_debug_info;
      break;
    case DebugSource::kDebuginfod:
      ++counters_.debuginfod_files;
      break;
  }
  module.debug_file = std::move(found.file);
  module.debug_source = found.source;
}

ElfFile* NativeSymbolizer::DwarfFile(ModuleState& module) {
  ElfFile* file = EnsureOpen(module);
  if (file == nullptr) return nullptr;
  ResolveDebugFile(module, *file);
  ElfFile* chosen = ChosenDwarfFile(module);
  return chosen != nullptr && chosen->has_debug_info() ? chosen : nullptr;
}

ElfFile* NativeSymbolizer::ChosenDwarfFile(const ModuleState& module) {
  if (module.debug_file && module.debug_file->has_debug_info()) return module.debug_file.get();
  return module.file.get();
}

void NativeSymbolizer::KeepDwarf(ModuleState& module) {
  if (limits_.max_kept_dwarf_files == 0 || !module.debug_resolved || module.awaiting_debuginfod) {
    return;
  }
  ElfFile* dwarf_file = ChosenDwarfFile(module);
  if (dwarf_file == nullptr || !dwarf_file->dwarf_loaded()) return;
  if (auto old = kept_dwarf_.find(module.table_key); old != kept_dwarf_.end()) {
    kept_dwarf_lru_.erase(old->second->position);
    kept_dwarf_.erase(old);
  }
  auto kept = std::make_unique<KeptDwarf>();
  kept->file = std::move(module.file);
  kept->debug_file = std::move(module.debug_file);
  kept->debug_source = module.debug_source;
  kept_dwarf_lru_.push_front(module.table_key);
  kept->position = kept_dwarf_lru_.begin();
  kept_dwarf_.emplace(module.table_key, std::move(kept));
  while (kept_dwarf_.size() > limits_.max_kept_dwarf_files) {
    kept_dwarf_.erase(kept_dwarf_lru_.back());
    kept_dwarf_lru_.pop_back();
  }
}

void NativeSymbolizer::TrimDwarf() {
  const std::lock_guard lock(mutex_);
  const auto over = [&] {
    return elf_limits_->dwarf_bytes.load(std::memory_order_relaxed) >
           limits_.max_dwarf_memory_bytes;
  };
  // Released modules' files first, the longest unused first: kept only in case their build
  // comes back.
  while (over() && !kept_dwarf_lru_.empty()) {
    kept_dwarf_.erase(kept_dwarf_lru_.back());
    kept_dwarf_lru_.pop_back();
    ++counters_.dwarf_closes;
  }
  while (over()) {
    ModuleState* oldest = nullptr;
    ElfFile* oldest_file = nullptr;
    for (auto& [id, module] : modules_) {
      ElfFile* file = ChosenDwarfFile(*module);
      if (file == nullptr || !file->dwarf_loaded()) continue;
      if (oldest == nullptr || module->dwarf_used_at < oldest->dwarf_used_at) {
        oldest = module.get();
        oldest_file = file;
      }
    }
    if (oldest_file == nullptr) return;
    oldest_file->CloseDwarf();
    ++counters_.dwarf_closes;
  }
}

void NativeSymbolizer::AdoptKeptDwarf(ModuleState& module) {
  auto it = kept_dwarf_.find(module.table_key);
  if (it == kept_dwarf_.end()) return;
  // The table key is the build id (else the device and inode): the kept file is this module's
  // build, opened earlier, with its DWARF read and indexed.
  KeptDwarf& kept = *it->second;
  module.file = std::move(kept.file);
  module.debug_file = std::move(kept.debug_file);
  module.debug_source = kept.debug_source;
  module.debug_resolved = true;
  kept_dwarf_lru_.erase(kept.position);
  kept_dwarf_.erase(it);
  ++counters_.dwarf_reuses;
}

void NativeSymbolizer::RetryAwaitingModules() {
  seen_generation_ = fetcher_->generation();
  for (auto& [id, module] : modules_) {
    if (!module->awaiting_debuginfod) continue;
    module->debug_resolved = false;
    module->awaiting_debuginfod = false;
    module->debug_file.reset();
    module->debug_source = DebugSource::kNone;
    if (auto it = tables_.find(module->table_key); it != tables_.end()) {
      table_bytes_ -= it->second->bytes;
      table_lru_.erase(it->second->position);
      tables_.erase(it);
    }
  }
}

void NativeSymbolizer::EvictTablesOverLimit(const std::string& keep) {
  while (table_bytes_ > limits_.max_symbol_memory_bytes && table_lru_.back() != keep) {
    auto victim = tables_.find(table_lru_.back());
    table_bytes_ -= victim->second->bytes;
    tables_.erase(victim);
    table_lru_.pop_back();
    ++counters_.evictions;
  }
}

}  // namespace profkit::symbolize
