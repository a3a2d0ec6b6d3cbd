#include "profkit/unwind/unwind_table_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "profkit/common/log.h"

namespace profkit::unwind {

size_t UnwindTableStore::FileKeyHash::operator()(const FileKey& k) const {
  uint64_t h = k.dev * 0x9e3779b97f4a7c15ULL;
  h ^= k.inode + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
  h ^= k.size + (h << 6) + (h >> 2);
  h ^= static_cast<uint64_t>(k.mtime_ns) + (h << 6) + (h >> 2);
  return static_cast<size_t>(h);
}

UnwindTableStore::UnwindTableStore(UnwindMaps& maps, UnwindStoreOptions options)
    : maps_(maps), options_(std::move(options)) {
  const size_t capacity = std::min<size_t>(maps_.row_capacity(), UINT32_MAX);
  if (capacity > 0) free_rows_[0] = static_cast<uint32_t>(capacity);
  counters_.row_capacity = capacity;
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
  std::vector<FileKey> previous;
  if (auto it = processes_.find(pid); it != processes_.end()) previous = std::move(it->second);
  processes_.erase(pid);

  std::vector<FileKey> used;
  std::vector<profkit_unwind_mapping> entries;
  for (const ExecMapping& mapping : request.mappings) {
    struct stat st;
    if (stat(mapping.open_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const FileKey key{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                      static_cast<uint64_t>(st.st_size),
                      int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
    FileEntry& file = Load(key, mapping.open_path);
    ++file.users[pid];
    used.push_back(key);
    if (!file.loaded) continue;
    const std::optional<uint64_t> bias =
        LoadBias(file.segments, mapping.start, mapping.file_offset);
    if (!bias) continue;
    entries.push_back(profkit_unwind_mapping{.start = mapping.start,
                                             .end = mapping.end,
                                             .bias = *bias,
                                             .first_row = file.first_row,
                                             .row_count = file.row_count});
  }
  // The new references are taken before the old ones are let go, so a file mapped before and
  // after keeps its table.
  processes_[pid] = std::move(used);
  for (const FileKey& key : previous) {
    auto file = files_.find(key);
    if (file == files_.end()) continue;
    if (--file->second.users[pid] <= 0) file->second.users.erase(pid);
    if (file->second.users.empty()) {
      if (file->second.loaded) {
        Free(file->second.first_row, file->second.row_count);
        std::lock_guard lock(mutex_);
        ++counters_.evicted;
      }
      files_.erase(file);
    }
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
  for (const FileKey& key : it->second) {
    auto file = files_.find(key);
    if (file == files_.end()) continue;
    file->second.users.erase(pid);
    if (!file->second.users.empty()) continue;
    if (file->second.loaded) {
      Free(file->second.first_row, file->second.row_count);
      std::lock_guard lock(mutex_);
      ++counters_.evicted;
    }
    files_.erase(file);
  }
  processes_.erase(it);
}

UnwindTableStore::FileEntry& UnwindTableStore::Load(const FileKey& key, const std::string& path) {
  auto [it, inserted] = files_.try_emplace(key);
  FileEntry& file = it->second;
  if (!inserted) return file;

  const auto started = std::chrono::steady_clock::now();
  Result<UnwindTable> table = BuildUnwindTable(path, options_.limits);
  const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  std::unique_lock lock(mutex_);
  counters_.build_ns += static_cast<uint64_t>(elapsed);
  if (!table.ok()) {
    if (table.status().code() == StatusCode::kNotFound) {
      ++counters_.files_without_cfi;
    } else {
      ++counters_.build_failures;
      spdlog::debug("no unwind table for {}: {}", path, table.status().message());
    }
    return file;
  }
  ++counters_.tables_built;
  lock.unlock();

  const auto rows = static_cast<uint32_t>(table->rows.size());
  const std::optional<uint32_t> first = Allocate(rows);
  if (!first) {
    lock.lock();
    ++counters_.capacity_exceeded;
    lock.unlock();
    if (!capacity_logged_) {
      capacity_logged_ = true;
      spdlog::warn(
          "the BPF unwind tables are full ({} rows): {} and files loaded later are unwound by "
          "frame pointer only; raise [ebpf] unwind_table_max_mb",
          counters_.row_capacity, path);
    }
    return file;
  }
  if (Status status = maps_.WriteRows(*first, table->rows); !status.ok()) {
    Free(*first, rows);
    spdlog::warn("loading the unwind table of {}: {}", path, status.message());
    lock.lock();
    ++counters_.build_failures;
    return file;
  }
  file.loaded = true;
  file.first_row = *first;
  file.row_count = rows;
  file.segments = std::move(table->segments);
  return file;
}

std::optional<uint32_t> UnwindTableStore::Allocate(uint32_t rows) {
  for (auto it = free_rows_.begin(); it != free_rows_.end(); ++it) {
    if (it->second < rows) continue;
    const uint32_t first = it->first;
    const uint32_t left = it->second - rows;
    free_rows_.erase(it);
    if (left > 0) free_rows_[first + rows] = left;
    std::lock_guard lock(mutex_);
    counters_.rows_used += rows;
    return first;
  }
  return std::nullopt;
}

void UnwindTableStore::Free(uint32_t first, uint32_t rows) {
  auto [it, inserted] = free_rows_.emplace(first, rows);
  // Coalesce with the following and the preceding free range.
  if (auto next = std::next(it); next != free_rows_.end() && first + it->second == next->first) {
    it->second += next->second;
    free_rows_.erase(next);
  }
  if (it != free_rows_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_rows_.erase(it);
    }
  }
  std::lock_guard lock(mutex_);
  counters_.rows_used -= rows;
}

}  // namespace profkit::unwind
