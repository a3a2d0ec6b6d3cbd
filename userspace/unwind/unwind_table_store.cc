#include "profkit/unwind/unwind_table_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "profkit/common/log.h"

namespace profkit::unwind {

namespace {

constexpr std::string_view kBuildIdPrefix = "build-id:";

}  // namespace

size_t UnwindTableStore::FileKeyHash::operator()(const FileKey& k) const {
  uint64_t h = k.dev * 0x9e3779b97f4a7c15ULL;
  h ^= k.inode + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
  h ^= k.size + (h << 6) + (h >> 2);
  h ^= static_cast<uint64_t>(k.mtime_ns) + (h << 6) + (h >> 2);
  return static_cast<size_t>(h);
}

UnwindTableStore::UnwindTableStore(UnwindMaps& maps, UnwindStoreOptions options)
    : maps_(maps),
      options_(std::move(options)),
      row_pairs_(static_cast<uint32_t>(std::min<size_t>(maps_.row_capacity() / 2, UINT32_MAX))),
      pages_(static_cast<uint32_t>(std::min<size_t>(maps_.page_capacity(), UINT32_MAX))) {
  counters_.row_capacity = uint64_t{row_pairs_.capacity()} * 2;
  counters_.page_capacity = pages_.capacity();
  builder_ = std::thread([this] { Run(); });
}

UnwindTableStore::~UnwindTableStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  builder_.join();
  for (const auto& [pid, keys] : processes_) maps_.RemoveProcess(pid);
}

void UnwindTableStore::SetMappings(uint32_t pid, std::vector<ExecMapping> mappings) {
  {
    std::lock_guard lock(mutex_);
    if (pending_.size() >= options_.max_pending) {
      ++counters_.dropped_requests;
      return;
    }
    pending_.push_back(Request{pid, false, std::move(mappings)});
  }
  wake_.notify_one();
}

void UnwindTableStore::RemoveProcess(uint32_t pid) {
  {
    std::lock_guard lock(mutex_);
    // Removals are never dropped: a dropped one would pin the process's tables.
    pending_.push_back(Request{pid, true, {}});
  }
  wake_.notify_one();
}

void UnwindTableStore::WaitIdle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return (pending_.empty() && !busy_) || stopping_; });
}

UnwindStoreCounters UnwindTableStore::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

void UnwindTableStore::Run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (stopping_) break;
    Request request = std::move(pending_.front());
    pending_.pop_front();
    busy_ = true;
    lock.unlock();
    Apply(request);
    lock.lock();
    busy_ = false;
    counters_.processes = processes_.size();
    counters_.files = 0;
    for (const auto& [key, file] : files_) counters_.files += file.loaded;
    if (pending_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

void UnwindTableStore::Apply(Request& request) {
  const uint32_t pid = request.pid;
  if (request.remove) {
    Release(pid);
    maps_.RemoveProcess(pid);
    return;
  }
  std::vector<FileIdentity> previous;
  if (auto it = processes_.find(pid); it != processes_.end()) previous = std::move(it->second);
  processes_.erase(pid);

  std::vector<FileIdentity> used;
  std::vector<profkit_unwind_mapping> entries;
  for (const ExecMapping& mapping : request.mappings) {
    struct stat st;
    if (stat(mapping.open_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const FileKey key{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                      static_cast<uint64_t>(st.st_size),
                      int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
    if (!mapping.sampled && !identities_.contains(key)) continue;
    FileIdentity identity;
    FileEntry& file = Load(key, mapping.open_path, identity);
    ++file.users[pid];
    used.push_back(std::move(identity));
    if (!file.loaded) continue;
    const std::optional<uint64_t> bias =
        LoadBias(file.segments, mapping.start, mapping.file_offset);
    if (!bias) continue;
    entries.push_back(profkit_unwind_mapping{.start = mapping.start,
                                             .end = mapping.end,
                                             .bias = *bias,
                                             .first_page = file.first_page,
                                             .page_count = file.page_count,
                                             .page_base = file.page_base,
                                             .reserved = 0});
  }
  // The new references are taken before the old ones are let go, so a file mapped before and
  // after keeps its table.
  processes_[pid] = std::move(used);
  for (const FileIdentity& identity : previous) {
    auto file = files_.find(identity);
    if (file == files_.end()) continue;
    if (--file->second.users[pid] <= 0) file->second.users.erase(pid);
    if (file->second.users.empty()) KeepUnused(file->first, file->second);
  }

  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.start < b.start; });
  if (entries.empty()) {
    maps_.RemoveProcess(pid);
    return;
  }
  profkit_unwind_process process{};
  process.count =
      static_cast<uint32_t>(std::min<size_t>(entries.size(), PROFKIT_UNWIND_MAX_MAPPINGS));
  std::copy_n(entries.begin(), process.count, process.mappings);
  if (Status status = maps_.SetProcess(pid, process); !status.ok()) {
    spdlog::debug("native unwinding of process {}: {}", pid, status.message());
  }
}

void UnwindTableStore::Release(uint32_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  for (const FileIdentity& identity : it->second) {
    auto file = files_.find(identity);
    if (file == files_.end()) continue;
    file->second.users.erase(pid);
    if (file->second.users.empty()) KeepUnused(file->first, file->second);
  }
  processes_.erase(it);
}

void UnwindTableStore::KeepUnused(const FileIdentity& identity, FileEntry& file) {
  file.unused_since = ++unused_sequence_;
  unused_.emplace(file.unused_since, identity);
  while (unused_.size() > options_.max_unused_files) EvictOldestUnused();
  UpdateFileCounters();
}

bool UnwindTableStore::EvictOldestUnused() {
  if (unused_.empty()) return false;
  const FileIdentity identity = unused_.begin()->second;
  unused_.erase(unused_.begin());
  auto file = files_.find(identity);
  if (file != files_.end()) {
    if (file->second.loaded) {
      if (identity.starts_with(kBuildIdPrefix)) {
        std::lock_guard lock(loaded_mutex_);
        loaded_by_build_id_.erase(identity.substr(kBuildIdPrefix.size()));
      }
      FreeSpace(file->second);
      std::lock_guard lock(mutex_);
      ++counters_.evicted;
    }
    for (const FileKey& key : file->second.stat_keys) identities_.erase(key);
    files_.erase(file);
  }
  return true;
}

void UnwindTableStore::FreeSpace(const FileEntry& file) {
  row_pairs_.Free(file.first_row / 2, file.row_count / 2);
  pages_.Free(file.first_page, file.page_count);
}

void UnwindTableStore::UpdateFileCounters() {
  std::lock_guard lock(mutex_);
  counters_.rows_used = row_pairs_.used() * 2;
  counters_.pages_used = pages_.used();
  counters_.unused_files = unused_.size();
}

UnwindTableStore::FileEntry& UnwindTableStore::Load(const FileKey& key, const std::string& path,
                                                    FileIdentity& identity) {
  if (auto known = identities_.find(key); known != identities_.end()) {
    identity = known->second;
    return Enter(identity, key).first;
  }
  const auto started = std::chrono::steady_clock::now();
  Result<ElfFile> elf = ElfFile::Open(path);
  std::string build_id = elf.ok() ? elf->BuildId() : "";
  identity = build_id.empty()
                 ? fmt::format("file:{}:{}:{}:{}", key.dev, key.inode, key.size, key.mtime_ns)
                 : std::string(kBuildIdPrefix) + build_id;
  auto [file, inserted] = Enter(identity, key);
  if (!inserted) {
    std::lock_guard lock(mutex_);
    ++counters_.shared_by_build_id;
    return file;
  }
  if (elf.ok()) {
    Build(file, *elf, path);
    if (file.loaded && !build_id.empty()) {
      std::lock_guard lock(loaded_mutex_);
      loaded_by_build_id_[build_id] = Placement{file.first_page, file.page_count, file.page_base};
      loaded_generation_.fetch_add(1, std::memory_order_release);
    }
  } else {
    spdlog::debug("no unwind table for {}: {}", path, elf.status().message());
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  std::lock_guard lock(mutex_);
  counters_.build_ns += static_cast<uint64_t>(elapsed);
  if (!elf.ok()) ++counters_.build_failures;
  return file;
}

std::pair<UnwindTableStore::FileEntry&, bool> UnwindTableStore::Enter(const FileIdentity& identity,
                                                                      const FileKey& key) {
  // Stat keys an identity remembers: each copy of a library (a container image's) has its own,
  // and one forgotten is found again by its build id.
  constexpr size_t kMaxStatKeysPerFile = 64;
  auto [it, inserted] = files_.try_emplace(identity);
  FileEntry& file = it->second;
  if (identities_.emplace(key, identity).second) {
    file.stat_keys.push_back(key);
    if (file.stat_keys.size() > kMaxStatKeysPerFile) {
      identities_.erase(file.stat_keys.front());
      file.stat_keys.erase(file.stat_keys.begin());
    }
  }
  // Mapped again while kept unused: in use from now on, nothing to build.
  if (!inserted && file.users.empty() && unused_.erase(file.unused_since) > 0) {
    UpdateFileCounters();
  }
  return {file, inserted};
}

void UnwindTableStore::Build(FileEntry& file, const ElfFile& elf, const std::string& path) {
  Result<UnwindTable> table = BuildUnwindTable(elf.elf(), options_.limits);
  if (!table.ok()) {
    std::lock_guard lock(mutex_);
    if (table.status().code() == StatusCode::kNotFound) {
      ++counters_.files_without_cfi;
    } else {
      ++counters_.build_failures;
      spdlog::debug("no unwind table for {}: {}", path, table.status().message());
    }
    return;
  }
  {
    std::lock_guard lock(mutex_);
    ++counters_.tables_built;
  }
  Result<PackedUnwindTable> packed =
      PackUnwindTable(table->rows, infos_, std::max<size_t>(1, pages_.capacity()));
  if (!packed.ok()) {
    std::lock_guard lock(mutex_);
    ++counters_.build_failures;
    spdlog::debug("no unwind table for {}: {}", path, packed.status().message());
    return;
  }
  if (Place(file, *packed, path)) file.segments = std::move(table->segments);
}

std::optional<std::pair<uint32_t, uint32_t>> UnwindTableStore::Allocate(uint32_t pair_count,
                                                                        uint32_t page_count) {
  // Tables no process maps are kept until their space is needed (the BPF arrays are allocated in
  // full at load, so keeping them costs nothing): a compiler that runs again a moment after its
  // last instance exited finds its table loaded.
  do {
    const std::optional<uint32_t> first_pair = row_pairs_.Allocate(pair_count);
    if (!first_pair) continue;
    if (const std::optional<uint32_t> first_page = pages_.Allocate(page_count)) {
      return std::pair{*first_pair, *first_page};
    }
    row_pairs_.Free(*first_pair, pair_count);
  } while (EvictOldestUnused());
  return std::nullopt;
}

bool UnwindTableStore::Place(FileEntry& file, PackedUnwindTable& table, const std::string& path) {
  // Rows are placed by pairs (UnwindMaps): an odd table gets a padding row no page points at.
  std::vector<profkit_unwind_row>& rows = table.rows;
  if (rows.size() % 2 != 0) rows.push_back(rows.back());
  const auto pair_count = static_cast<uint32_t>(rows.size() / 2);
  const auto page_count = static_cast<uint32_t>(table.pages.size());
  const std::optional<std::pair<uint32_t, uint32_t>> space = Allocate(pair_count, page_count);
  if (!space) {
    std::lock_guard lock(mutex_);
    ++counters_.capacity_exceeded;
    if (!capacity_logged_) {
      capacity_logged_ = true;
      spdlog::warn(
          "the BPF unwind tables are full ({} rows, {} pages): {} and files loaded later are "
          "unwound by frame pointer only; raise [ebpf] unwind_table_max_mb",
          uint64_t{row_pairs_.capacity()} * 2, pages_.capacity(), path);
    }
    return false;
  }
  // Rules first: the rows name them. A rule interned by a table that then failed is written too,
  // so the array never has a hole below infos_written_.
  const auto [first_pair, first_page] = *space;
  const uint32_t first_row = first_pair * 2;
  for (profkit_unwind_page& page : table.pages) page.first_row += first_row;
  Status status = maps_.WriteInfos(static_cast<uint32_t>(infos_written_),
                                   std::span(infos_.infos()).subspan(infos_written_));
  if (status.ok()) infos_written_ = infos_.infos().size();
  if (status.ok()) status = maps_.WriteRows(first_row, rows);
  if (status.ok()) status = maps_.WritePages(first_page, table.pages);
  file.first_row = first_row;
  file.row_count = static_cast<uint32_t>(rows.size());
  file.first_page = first_page;
  file.page_count = page_count;
  if (!status.ok()) {
    FreeSpace(file);
    spdlog::warn("loading the unwind table of {}: {}", path, status.message());
    std::lock_guard lock(mutex_);
    ++counters_.build_failures;
    return false;
  }
  file.loaded = true;
  file.page_base = table.page_base;
  {
    std::lock_guard lock(mutex_);
    counters_.rules = infos_written_;
  }
  UpdateFileCounters();
  return true;
}

bool UnwindTableStore::HasLoadedTable(std::string_view build_id) const {
  std::lock_guard lock(loaded_mutex_);
  return loaded_by_build_id_.contains(std::string(build_id));
}

std::optional<profkit_unwind_info> UnwindTableStore::LoadedRule(std::string_view build_id,
                                                                uint64_t file_address) const {
  std::lock_guard lock(loaded_mutex_);
  auto it = loaded_by_build_id_.find(std::string(build_id));
  if (it == loaded_by_build_id_.end()) return std::nullopt;
  const Placement& placement = it->second;
  // The table's one page that holds the address and that page's rows, as the walker reads them
  // (FindPackedInfo is its mirror).
  const uint64_t page_number = file_address >> PROFKIT_UNWIND_PAGE_SHIFT;
  if (page_number < placement.page_base ||
      page_number - placement.page_base >= placement.page_count) {
    return profkit_unwind_info{.kind = PROFKIT_UNWIND_NONE};
  }
  const uint64_t index = page_number - placement.page_base;
  PackedUnwindTable page{.page_base = static_cast<uint32_t>(page_number)};
  page.pages.resize(1);
  if (!maps_.ReadPages(placement.first_page + static_cast<uint32_t>(index), page.pages).ok() ||
      page.pages[0].row_count == 0 || page.pages[0].row_count > PROFKIT_UNWIND_PAGE_SIZE) {
    return std::nullopt;
  }
  page.rows.resize(page.pages[0].row_count);
  if (!maps_.ReadRows(page.pages[0].first_row, page.rows).ok()) return std::nullopt;
  page.pages[0].first_row = 0;
  const std::optional<uint16_t> info_index = FindPackedInfo(page, file_address);
  profkit_unwind_info info{};
  if (!info_index || !maps_.ReadInfo(*info_index, info).ok()) return std::nullopt;
  return info;
}

}  // namespace profkit::unwind
