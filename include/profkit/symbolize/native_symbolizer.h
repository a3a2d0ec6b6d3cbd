// Native symbolization: (module, file offset) → function, source file and line, from the module's
// ELF symbol tables (.symtab, else .dynsym) and, when the file carries it, DWARF (libdw) including
// inline chains.
//
// Modules are interned by the (dev, inode) /proc/PID/maps shows, so one library mapped by many
// processes is opened once. Parsed symbol tables are cached by build id when the file has one (two
// inodes with the same build id share a table), else by (dev, inode), and are LRU-evicted under a
// memory budget. Files stay open (LRU, bounded) so a module whose binary was deleted or whose
// process lives in another mount namespace still symbolizes; a module whose file was closed is
// reopened through its open candidates, which fails once its processes are gone.
//
// Thread-safe: every public member function holds an internal mutex for the duration of the call
// (never longer), so the reader thread (AddModule, CFI lookups, CPython detection) and the flush
// worker (Symbolize, Module) share one instance; a call that loads a symbol table or DWARF makes
// the other thread's next call wait for that load. A ModuleInfo pointer from Module() stays valid
// until ReleaseModule of that id, which the pipeline calls only after the flushes that use it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::symbolize {

class DebuginfodFetcher;
class ElfFile;
struct ElfReadLimits;
class SymbolTable;

// Identity of a mapped object file as /proc/PID/maps shows it.
struct ModuleKey {
  uint64_t dev = 0;
  uint64_t inode = 0;
  bool operator==(const ModuleKey&) const = default;
};

struct ModuleInfo {
  std::string path;      // path as mapped (e.g. /usr/lib/x86_64-linux-gnu/libc.so.6)
  std::string build_id;  // lowercase hex of NT_GNU_BUILD_ID, "" if none
  uint64_t file_size = 0;
};

struct SymbolizedLine {
  std::string function;     // demangled when C++ (e.g. "ns::Foo::bar(int)")
  std::string system_name;  // the raw (mangled) symbol name
  std::string file;         // source file from DWARF, "" when unknown
  int64_t line = 0;         // 0 when unknown
  int64_t start_line = 0;   // DW_AT_decl_line of the function when known

  bool operator==(const SymbolizedLine&) const = default;
};

struct NativeSymbolizerLimits {
  // Distinct (dev, inode) interned at once; beyond it AddModule fails (module_limit_hits).
  size_t max_modules = 4096;
  // File descriptors kept open to modules (LRU close, counted in file_closes; at least 1). A closed
  // module is reopened on demand; when its process is gone it symbolizes as unknown.
  size_t max_open_files = 1024;
  // Parsed symbol tables, LRU-evicted by module (evictions). The table in use is never evicted, so
  // one table larger than the budget still loads.
  size_t max_symbol_memory_bytes = 256 << 20;
  // The largest ELF section read for symbols, CFI or DWARF (decompressed size for a compressed
  // one); a file with a larger one gets no symbols, CFI or DWARF from it (oversized_sections).
  // Config [symbols] max_section_mb.
  uint64_t max_section_bytes = 512ULL << 20;
  // DWARF compile units indexed per file; past it addresses get symbol-table names without lines
  // (dwarf_unit_limit_hits). Config [symbols] max_dwarf_units.
  size_t max_dwarf_units = 1 << 17;
  // Files whose DWARF was in use, kept open with their DWARF index after their module is released
  // (its processes exited), LRU: the next process mapping the same build (a compiler, a cron job)
  // finds its DWARF read and indexed instead of reading, decompressing and indexing it again.
  size_t max_kept_dwarf_files = 32;
  // Heap the open DWARF of all files may hold (decompressed debug sections, line tables and the
  // indexes of the units looked up, an estimate). Once past it, the open DWARF stops growing: no
  // file's DWARF is opened and no unit read (dwarf_budget_skips; those frames keep their ELF symbol
  // names, without lines or inlined calls) until TrimDwarf, at the end of a flush, closes the
  // DWARF used longest ago (dwarf_closes) to get back under it. Closing only between flushes keeps
  // two files that one flush alternates between from being read again and again. Frames are
  // symbolized once and cached (pipeline/FrameSymbolizer), so a closed DWARF is read again only
  // for addresses not seen before. A file whose compressed debug sections (Debian's -dbg packages)
  // would decompress to more than a third of the budget, or more than it has left, is not opened
  // (dwarf_budget_skips): libdw decompresses them whole when it opens the file (libc6-dbg's: 9.5
  // MiB, about 20 MiB with what a C++ build's libc frames index), leaving the rest for the line
  // tables of other files. At the default libc frames keep libc6-dbg's symbol names, without
  // lines, which keeps the agent within 96 MB during a C++ build (README, "How native stacks are
  // unwound").
  size_t max_dwarf_memory_bytes = 24 << 20;
};

// Where the names of stripped modules come from (README "Named native frames"; config [symbols]).
// For a module whose file lacks DWARF or a .symtab, in this order: the build-id path under each
// debug directory, the .gnu_debuglink target, the module's MiniDebugInfo (symbols only), then
// debuginfod in the background.
struct DebugInfoOptions {
  std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
  // Space-separated server URLs; nullopt = the DEBUGINFOD_URLS environment variable; "" = off.
  std::optional<std::string> debuginfod_urls;
  std::string cache_dir = "/var/cache/profkit/debuginfod";
  // One download's whole time (and the longest it may make no progress).
  std::chrono::nanoseconds debuginfod_timeout = std::chrono::seconds(30);
  uint64_t cache_max_bytes = 2048ULL << 20;     // downloads evicted oldest first beyond it
  uint64_t max_download_bytes = 1024ULL << 20;  // one debug file
  size_t debuginfod_workers = 2;                // downloads at once
  // A build id the servers do not have (404) is asked again after this long...
  std::chrono::nanoseconds miss_lifetime = std::chrono::minutes(10);
  // ...and one whose download failed (server unreachable, timeout, too large) after this long.
  std::chrono::nanoseconds error_lifetime = std::chrono::minutes(1);
};

struct DebuginfodCounters {
  uint64_t hits = 0;          // debug files downloaded
  uint64_t misses = 0;        // build ids no server has (404)
  uint64_t errors = 0;        // failed downloads (unreachable, timeout, too large)
  uint64_t bytes = 0;         // downloaded bytes
  uint64_t evictions = 0;     // downloads removed by cache_max_mb
  uint64_t queued = 0;        // build ids waiting for a worker
  uint64_t cached_bytes = 0;  // bytes of downloads in the cache now
};

class NativeSymbolizer {
 public:
  struct Counters {
    uint64_t modules;             // modules currently interned
    uint64_t open_failures;       // AddModule or a reopen found no usable candidate
    uint64_t module_limit_hits;   // AddModule refused by max_modules
    uint64_t lookups;             // Symbolize calls
    uint64_t misses;              // Symbolize calls that returned no frame
    uint64_t evictions;           // symbol tables dropped by max_symbol_memory_bytes
    uint64_t file_closes;         // files closed by max_open_files
    uint64_t dwarf_reuses;        // modules that took the DWARF of a released module of their build
    uint64_t truncated_tables;    // symbol tables cut at kMaxSymbolsPerModule
    uint64_t oversized_sections;  // symbols, CFI or DWARF refused by max_section_bytes
    uint64_t dwarf_unit_limit_hits;  // files whose DWARF was cut at max_dwarf_units
    uint64_t dwarf_bytes;            // heap held by open DWARF now (estimate)
    uint64_t dwarf_closes;           // DWARF closed by max_dwarf_memory_bytes
    // Symbolize calls that got no lines because the DWARF they needed would have grown past
    // max_dwarf_memory_bytes.
    uint64_t dwarf_budget_skips;
    uint64_t cfi_lookups;  // ReturnAddressOffsetFromSp calls
    // ReturnAddressOffsetFromSp calls no usable CFI rule answered (unknown module or offset, no
    // CFI row for the address, or a rule given as a DWARF expression); RBP-based frames are hits.
    uint64_t cfi_misses;
    // Modules named from a file other than their own, by where it came from.
    uint64_t debug_build_id_files;
    uint64_t debug_link_files;
    uint64_t mini_debug_info;
    uint64_t debuginfod_files;
    // Separate files refused (unreadable ELF, another build id, a CRC mismatch) are not counted:
    // a refused candidate is the normal case on a host where the path holds another version.
    DebuginfodCounters debuginfod;
  };

  explicit NativeSymbolizer(NativeSymbolizerLimits limits = {}, DebugInfoOptions debug = {});
  ~NativeSymbolizer();
  NativeSymbolizer(const NativeSymbolizer&) = delete;
  NativeSymbolizer& operator=(const NativeSymbolizer&) = delete;

  // Interns the object file (dev/inode) mapped at `path`, opening it through the first of
  // `open_candidates` that opens as an ELF executable or shared object (the agent passes
  // /proc/PID/map_files/START-END and /proc/PID/root/PATH, so containers and deleted binaries
  // work). Returns a stable id >= 1 (0 is profile::kUnknownModule). The same key returns the same
  // id without reopening, and its candidates replace the stored ones for later reopens. Reads the
  // build id and load segments right away; symbols and DWARF load on first lookup. `root`
  // (/proc/PID/root, or "" for the host) is where the module's separate debug files are looked
  // for first, before the host's.
  Result<uint32_t> AddModule(const ModuleKey& key, const std::string& path,
                             const std::vector<std::string>& open_candidates,
                             const std::string& root = {});

  // nullptr for unknown or released ids.
  const ModuleInfo* Module(uint32_t id) const;

  // Symbolizes `file_offset` (IP - map.start + map.pgoff). Returns inlined frames innermost first
  // (DWARF inline chain when the file has debug info), or empty when no symbol covers the
  // address. Sized symbols must contain the address; a zero-size symbol (hand-written assembly)
  // covers up to the next symbol or the end of its section.
  std::vector<SymbolizedLine> Symbolize(uint32_t id, uint64_t file_offset);

  // For the innermost frame only: when the call frame at `file_offset` is addressed from the stack
  // pointer (no frame pointer established yet, or a frameless function), the byte offset from the
  // interrupted RSP at which the return address into the caller is stored; nullopt when the frame
  // is RBP-based, or no CFI (.eh_frame, else .debug_frame) covers the address, or the module is
  // unknown. The offset is returned however large; the caller checks it against the stack bytes it
  // captured. The CFI is read on first use and kept while the module's file is open, or until
  // CloseCfi.
  std::optional<uint64_t> ReturnAddressOffsetFromSp(uint32_t id, uint64_t file_offset);
  // Frees the CFI ReturnAddressOffsetFromSp read for module `id`: its unwind table answers from
  // now on (pipeline/SamplePipeline::InsertCallerOfFramelessLeaf). A compiler's .eh_frame is
  // 2.9 MB read whole, and libdw's cache of its entries grows with every address looked up.
  void CloseCfi(uint32_t id);

  // Lookups for runtimes that find their data structures through a module's symbols (CPython's
  // _PyRuntime): symbols of any type by exact name (.dynsym, then .symtab; nullopt where absent),
  // file bytes at an ELF virtual address, a section's bytes. Errors for unknown or unopenable
  // modules.
  struct Symbol {
    uint64_t address;  // ELF virtual address
    uint64_t size;
  };
  Result<std::vector<std::optional<Symbol>>> FindSymbols(uint32_t id,
                                                         std::span<const std::string_view> names);
  Result<std::string> ReadAtAddress(uint32_t id, uint64_t address, size_t size);
  Result<std::string> ReadSection(uint32_t id, std::string_view name, size_t max_bytes);
  // The ELF virtual address that file offset `file_offset` of the module is loaded at.
  std::optional<uint64_t> AddressOfFileOffset(uint32_t id, uint64_t file_offset) const;

  // Forgets a module (its process set is gone). Ids are never reused.
  void ReleaseModule(uint32_t id);

  // Closes the DWARF used longest ago (kept files of released modules first) until the open DWARF
  // fits max_dwarf_memory_bytes. Called by the flush worker after each flush.
  void TrimDwarf();

  Counters counters() const;

  // Changes when a debug file arrived in the background (debuginfod): symbolization results
  // cached by the caller are stale for the modules it names. Lock-free.
  uint64_t names_generation() const;

 private:
  struct ModuleState;
  struct TableEntry;
  struct KeyHash {
    size_t operator()(const ModuleKey& k) const noexcept {
      return static_cast<size_t>(k.inode * 0x9e3779b97f4a7c15ULL ^ k.dev);
    }
  };

  // Opens the first usable candidate for `path`; when `expect` is set the file must match it.
  Result<std::unique_ptr<ElfFile>> OpenFirst(const std::string& path,
                                             const std::vector<std::string>& candidates,
                                             const ModuleInfo* expect);
  // Returns the module's open file, reopening it (and closing the LRU file) when needed.
  ElfFile* EnsureOpen(ModuleState& module);
  Result<ElfFile*> OpenModule(uint32_t id);
  void CloseFilesOverLimit(const ModuleState* keep);
  // Returns the module's symbol table, loading it (and evicting LRU tables) when needed.
  const SymbolTable* EnsureTable(ModuleState& module);
  void EvictTablesOverLimit(const std::string& keep);
  // ReleaseModule: keeps the module's files when its DWARF is in use (max_kept_dwarf_files).
  void KeepDwarf(ModuleState& module);
  // AddModule: gives a new module the kept files of its build, if any.
  void AdoptKeptDwarf(ModuleState& module);
  // Finds the module's best separate symbols/DWARF once per open of its file (see
  // DebugInfoOptions); the module's own file must be open.
  void ResolveDebugFile(ModuleState& module, ElfFile& file);
  // The file whose DWARF names the module's frames, nullptr without DWARF.
  ElfFile* DwarfFile(ModuleState& module);
  // Which of the module's open files DwarfFile chose (nullptr when none is open).
  static ElfFile* ChosenDwarfFile(const ModuleState& module);
  // After a debuginfod arrival: modules waiting for one look again, their tables are rebuilt.
  void RetryAwaitingModules();

  mutable std::mutex mutex_;  // guards everything below
  NativeSymbolizerLimits limits_;
  // What every file opened here may make profkit read, with its counters; declared before the
  // modules so it outlives their files.
  std::unique_ptr<ElfReadLimits> elf_limits_;
  Counters counters_{};
  uint32_t next_id_ = 1;
  std::unordered_map<uint32_t, std::unique_ptr<ModuleState>> modules_;
  std::unordered_map<ModuleKey, uint32_t, KeyHash> ids_by_key_;
  std::list<uint32_t> open_lru_;  // module ids with an open file, most recent first
  std::unordered_map<std::string, std::unique_ptr<TableEntry>> tables_;
  std::list<std::string> table_lru_;  // table keys, most recent first
  size_t table_bytes_ = 0;
  struct KeptDwarf;
  std::unordered_map<std::string, std::unique_ptr<KeptDwarf>> kept_dwarf_;  // by table key
  std::list<std::string> kept_dwarf_lru_;  // table keys, most recent first
  uint64_t dwarf_use_sequence_ = 0;        // ModuleState::dwarf_used_at of the latest lookup
  const DebugInfoOptions debug_options_;
  std::unique_ptr<DebuginfodFetcher> fetcher_;  // null when debuginfod is off
  uint64_t seen_generation_ = 0;
};

}  // namespace profkit::symbolize
