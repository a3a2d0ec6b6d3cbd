// The unwind tables of every executable file sampled processes map, kept in the BPF maps the native
// walker reads: built once per file identity on a builder thread of its own, shared by every
// process mapping the file, and kept when no process maps it any more until its space is needed.
// A file's identity is its GNU build id, so the copies of one library in many container images
// share one table; a file without a build id is identified by device, inode, size and mtime.
// Bounded by the row and page arrays' capacities: a file whose table does not fit is left to frame
// pointers (counted, logged once).
//
// Thread-safe: SetMappings and RemoveProcess only queue work (the ring-buffer reader calls them);
// the builder thread reads the files and writes the maps.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "profkit/unwind/packed_unwind_table.h"
#include "profkit/unwind/range_allocator.h"
#include "profkit/unwind/unwind_maps.h"
#include "profkit/unwind/unwind_table.h"

namespace profkit::unwind {

// One executable file mapping of a process, as /proc/PID/maps shows it.
struct ExecMapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t file_offset = 0;
  // Where the builder opens the file: /proc/PID/map_files/<start>-<end> reaches it even when it
  // was deleted or lives in another mount namespace.
  std::string open_path;
  // A sample had a frame in it: its file's table is built if there is none. A mapping no sample
  // has reached only gets a table its file already has (another process built it): most of the
  // libraries a program maps never run while it is sampled (a compiler's libgmp, libisl, libzstd):
  // in the C++ build bench (README) 29 tables are built instead of 92, and the builder's CPU in
  // the first 120 s went from 0.99 s to 0.42-0.74 s.
  bool sampled = true;
};

struct UnwindStoreOptions {
  // Requests waiting for the builder; beyond it new ones are dropped (those processes keep
  // frame-pointer stacks until their mappings are read again).
  size_t max_pending = 4096;
  // Files mapped by no process whose entries (a table, or the knowledge that there is none) are
  // kept for when they are mapped again.
  size_t max_unused_files = 1024;
  UnwindTableLimits limits;
};

struct UnwindStoreCounters {
  uint64_t processes = 0;           // processes unwound with tables now
  uint64_t files = 0;               // files with a table loaded now, in use or kept
  uint64_t unused_files = 0;        // files kept that no process maps (tables or not)
  uint64_t rows_used = 0;           // rows of the BPF row array in use
  uint64_t row_capacity = 0;        // its size ([ebpf] unwind_table_max_mb)
  uint64_t pages_used = 0;          // entries of the BPF page array in use
  uint64_t page_capacity = 0;       // its size
  uint64_t rules = 0;               // distinct rules in the BPF info array (never freed)
  uint64_t tables_built = 0;        // since start
  uint64_t shared_by_build_id = 0;  // files found to have the build id of a file already known
  uint64_t files_without_cfi = 0;   // files seen without usable CFI (frame pointers for them)
  uint64_t build_failures = 0;      // unreadable files, corrupt or oversized CFI
  uint64_t capacity_exceeded = 0;   // tables that did not fit in the row array
  uint64_t evicted = 0;             // unused tables dropped for space or over max_unused_files
  uint64_t dropped_requests = 0;    // over max_pending
  uint64_t build_ns = 0;            // time spent building tables
};

class UnwindTableStore {
 public:
  explicit UnwindTableStore(UnwindMaps& maps, UnwindStoreOptions options = {});
  // Stops the builder (finishing the file it is on) and removes every process it set up.
  ~UnwindTableStore();
  UnwindTableStore(const UnwindTableStore&) = delete;
  UnwindTableStore& operator=(const UnwindTableStore&) = delete;

  // `pid`'s executable mappings were (re)read: tables for its files are built or shared, and the
  // walker unwinds it with them; files it no longer maps are let go.
  void SetMappings(uint32_t pid, std::vector<ExecMapping> mappings);
  // The process exited or exec'd: the walker forgets it, its files are let go.
  void RemoveProcess(uint32_t pid);
  // Blocks until every request queued before the call is done (tests and bench).
  void WaitIdle();

  UnwindStoreCounters counters() const;

  // The rule the BPF walker would find at ELF address `file_address` of the file whose GNU build
  // id is `build_id` (lowercase hex), read back from the maps: a rule of kind PROFKIT_UNWIND_NONE
  // where its table has none; nullopt when no table of that build is loaded (not built yet, no
  // CFI, evicted). Lets the frameless-leaf recovery of a process not yet unwound with tables use a
  // table another process's samples already built, instead of reading the file's CFI again
  // (pipeline/SamplePipeline::InsertCallerOfFramelessLeaf). Safe from any thread.
  std::optional<profkit_unwind_info> LoadedRule(std::string_view build_id,
                                                uint64_t file_address) const;
  // Whether a table of that build is loaded now; and a number that changes whenever a table is
  // loaded, so a caller waiting for tables asks again only then.
  bool HasLoadedTable(std::string_view build_id) const;
  uint64_t loaded_generation() const { return loaded_generation_.load(std::memory_order_acquire); }

 private:
  // How a file was found on disk (stat): the key that finds its identity without opening it.
  struct FileKey {
    uint64_t dev;
    uint64_t inode;
    uint64_t size;
    int64_t mtime_ns;
    bool operator==(const FileKey&) const = default;
  };
  struct FileKeyHash {
    size_t operator()(const FileKey& k) const;
  };
  // "build-id:<hex>", else "file:<dev>:<inode>:<size>:<mtime>".
  using FileIdentity = std::string;
  struct FileEntry {
    bool loaded = false;     // false: no CFI, too large or unreadable; frame pointers for it
    uint32_t first_row = 0;  // even
    uint32_t row_count = 0;  // even: with the padding row of an odd table
    uint32_t first_page = 0;
    uint32_t page_count = 0;
    uint32_t page_base = 0;
    std::vector<LoadSegment> segments;
    std::unordered_map<uint32_t, int> users;  // pid -> mappings of this file in it
    uint64_t unused_since = 0;                // its key in unused_ while users is empty
    std::vector<FileKey> stat_keys;           // in identities_, oldest first
  };
  struct Request {
    uint32_t pid;
    bool remove;
    std::vector<ExecMapping> mappings;
  };

  void Run();
  void Apply(Request& request);
  void Release(uint32_t pid);
  // The entry of the file at `path` found by `key`: known by its stat, else by its build id, else
  // built now. Sets `identity` to the entry's key in files_.
  FileEntry& Load(const FileKey& key, const std::string& path, FileIdentity& identity);
  // The entry of `identity`, new or found (then in use again), with `key` leading to it.
  std::pair<FileEntry&, bool> Enter(const FileIdentity& identity, const FileKey& key);
  void Build(FileEntry& file, const ElfFile& elf, const std::string& path);
  // Writes a packed table into free rows and pages; false (counted) when they do not fit. Pads
  // and rebases `table` in place.
  bool Place(FileEntry& file, PackedUnwindTable& table, const std::string& path);
  // {first row pair, first page} of free space, evicting unused tables for it; nullopt when even
  // that is not enough.
  std::optional<std::pair<uint32_t, uint32_t>> Allocate(uint32_t pair_count, uint32_t page_count);
  // `file` is mapped by no process any more: kept loaded, oldest evicted first when space is
  // needed or more than max_unused_files are kept.
  void KeepUnused(const FileIdentity& identity, FileEntry& file);
  // Frees the rows and pages of the file unused the longest; false when none is.
  bool EvictOldestUnused();
  void FreeSpace(const FileEntry& file);
  void UpdateFileCounters();

  UnwindMaps& maps_;
  const UnwindStoreOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Request> pending_;
  bool busy_ = false;
  bool stopping_ = false;
  UnwindStoreCounters counters_;

  // Builder thread only.
  std::unordered_map<FileIdentity, FileEntry> files_;
  std::unordered_map<FileKey, FileIdentity, FileKeyHash> identities_;
  std::unordered_map<uint32_t, std::vector<FileIdentity>> processes_;
  std::map<uint64_t, FileIdentity> unused_;  // files no process maps, oldest first
  uint64_t unused_sequence_ = 0;
  RangeAllocator row_pairs_;  // in pairs of rows (UnwindMaps)
  RangeAllocator pages_;
  UnwindInfoSet infos_;
  size_t infos_written_ = 0;  // infos_ entries already in the BPF array
  bool capacity_logged_ = false;

  // Where the loaded tables of files with a build id are, for LoadedRule: an entry is added once
  // its table is written and removed before its space is freed, and LoadedRule reads the maps
  // holding the lock, so it never reads rows that are being replaced.
  struct Placement {
    uint32_t first_page = 0;
    uint32_t page_count = 0;
    uint32_t page_base = 0;
  };
  mutable std::mutex loaded_mutex_;
  std::unordered_map<std::string, Placement> loaded_by_build_id_;  // key: the build id
  std::atomic<uint64_t> loaded_generation_{0};

  std::thread builder_;  // last: started once everything above is constructed
};

}  // namespace profkit::unwind
