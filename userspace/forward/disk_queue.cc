#include "profkit/forward/disk_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "profkit/common/file_util.h"
#include "profkit/common/log.h"
#include "profkit/common/unique_fd.h"

namespace profkit::forward {
namespace {

constexpr std::array<char, 4> kMagic = {'P', 'K', 'Q', '1'};
constexpr std::string_view kSegmentPrefix = "seg-";
constexpr std::string_view kSegmentSuffix = ".q";
// Segment sizes when DiskQueueOptions::segment_bytes is 0: small enough that eviction loses
// little at once, large enough that a busy queue doesn't churn through files.
constexpr uint64_t kMinAutoSegmentBytes = 64 << 10;
constexpr uint64_t kMaxAutoSegmentBytes = 32 << 20;
// A fully delivered segment that is still written to is replaced by a fresh one once it holds
// this much: after a crash, at most this many delivered bytes are sent again.
constexpr uint64_t kDrainedRotateBytes = 1 << 20;

void PutU32(uint32_t value, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint32_t GetU32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return value;
}

uint32_t RecordCrc(const char* length_bytes, std::string_view payload) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(length_bytes), 4);
  // zlib's length is a uInt; payloads are below 4 GiB (their length is a u32).
  crc =
      crc32(crc, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size()));
  return static_cast<uint32_t>(crc);
}

// The payload length of a valid record at `offset` of `data`, or nullopt.
std::optional<uint32_t> ValidRecordAt(std::string_view data, size_t offset) {
  if (data.size() - offset < kDiskQueueRecordHeaderBytes) return std::nullopt;
  const char* header = data.data() + offset;
  if (std::memcmp(header, kMagic.data(), kMagic.size()) != 0) return std::nullopt;
  const uint32_t length = GetU32(header + 4);
  if (data.size() - offset - kDiskQueueRecordHeaderBytes < length) return std::nullopt;
  const std::string_view payload = data.substr(offset + kDiskQueueRecordHeaderBytes, length);
  if (RecordCrc(header + 4, payload) != GetU32(header + 8)) return std::nullopt;
  return length;
}

Status WriteAllAt(int fd, std::string_view data, uint64_t offset) {
  while (!data.empty()) {
    const ssize_t n = pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status ReadAllAt(int fd, char* out, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read", errno);
    }
    if (n == 0) return Status::InvalidInput("read: unexpected end of file");
    out += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

// Makes a created or deleted file name durable.
Status SyncDirectory(const std::string& dir) {
  const UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Status::FromErrno("open " + dir, errno);
  if (fsync(fd.get()) != 0) return Status::FromErrno("fsync " + dir, errno);
  return Status::Ok();
}

std::optional<uint64_t> SegmentNumber(std::string_view name) {
  if (name.size() != kSegmentPrefix.size() + 20 + kSegmentSuffix.size() ||
      name.substr(0, kSegmentPrefix.size()) != kSegmentPrefix ||
      name.substr(name.size() - kSegmentSuffix.size()) != kSegmentSuffix) {
    return std::nullopt;
  }
  uint64_t number = 0;
  for (const char c : name.substr(kSegmentPrefix.size(), 20)) {
    if (c < '0' || c > '9') return std::nullopt;
    number = number * 10 + static_cast<uint64_t>(c - '0');
  }
  return number;
}

uint64_t SegmentBytes(const DiskQueueOptions& options) {
  if (options.segment_bytes > 0) return options.segment_bytes;
  return std::clamp<uint64_t>(options.capacity_bytes / 8, kMinAutoSegmentBytes,
                              kMaxAutoSegmentBytes);
}

}  // namespace

struct DiskQueue::Segment {
  Segment(uint64_t number_in, std::string path_in, UniqueFd fd_in)
      : number(number_in), path(std::move(path_in)), file(std::move(fd_in)), fd(file.get()) {}

  // Group commit: one fdatasync covers every write that finished before it started.
  Status SyncTo(uint64_t end) {
    std::lock_guard lock(sync_mutex);
    if (synced >= end) return Status::Ok();
    const uint64_t target = written.load();
    if (fdatasync(fd) != 0) return Status::FromErrno("fdatasync " + path, errno);
    synced = target;
    return Status::Ok();
  }

  const uint64_t number;
  const std::string path;
  const UniqueFd file;               // closed with the segment
  const int fd;                      // file.get()
  uint64_t size = 0;                 // queue mutex
  uint64_t live_records = 0;         // queue mutex
  std::atomic<uint64_t> written{0};  // bytes whose write finished
  std::mutex sync_mutex;
  uint64_t synced = 0;  // sync_mutex
};

DiskQueue::DiskQueue(DiskQueueOptions options) : options_(std::move(options)) {}

DiskQueue::~DiskQueue() {
  // A clean stop with everything delivered leaves nothing to replay.
  std::lock_guard lock(mutex_);
  if (!segments_.empty() && segments_.back()->live_records == 0 &&
      unlink(segments_.back()->path.c_str()) != 0) {
    spdlog::warn("disk queue: unlink {}: {}", segments_.back()->path, std::strerror(errno));
  }
}

Result<std::unique_ptr<DiskQueue>> DiskQueue::Open(DiskQueueOptions options) {
  if (options.dir.empty()) return Status::InvalidInput("disk queue: no directory");
  if (options.capacity_bytes < kDiskQueueRecordHeaderBytes) {
    return Status::InvalidInput("disk queue: capacity too small");
  }
  std::unique_ptr<DiskQueue> queue(new DiskQueue(std::move(options)));
  PROFKIT_RETURN_IF_ERROR(queue->Recover().WithContext("disk queue " + queue->options_.dir));
  return queue;
}

Status DiskQueue::Recover() {
  PROFKIT_RETURN_IF_ERROR(MakeDirectories(options_.dir));
  std::vector<std::pair<uint64_t, std::string>> found;
  DIR* dir = opendir(options_.dir.c_str());
  if (dir == nullptr) return Status::FromErrno("opendir", errno);
  while (const dirent* item = readdir(dir)) {
    if (const std::optional<uint64_t> number = SegmentNumber(item->d_name)) {
      found.emplace_back(*number, options_.dir + "/" + item->d_name);
    }
  }
  closedir(dir);
  std::sort(found.begin(), found.end());

  std::lock_guard lock(mutex_);
  for (const auto& [number, path] : found) {
    next_segment_number_ = number + 1;
    if (options_.clear_on_start) {
      if (unlink(path.c_str()) != 0) return Status::FromErrno("unlink " + path, errno);
      continue;
    }
    const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open " + path, errno);
    auto segment = std::make_shared<Segment>(number, path, UniqueFd(fd));
    PROFKIT_RETURN_IF_ERROR(ScanSegment(segment, &path == &found.back().second));
    segments_.push_back(std::move(segment));
  }
  if (options_.clear_on_start && !found.empty()) {
    spdlog::info("disk queue {}: cleared {} segments (clear_cache_on_start)", options_.dir,
                 found.size());
  }
  // Recovered segments are never appended to: a fresh one takes new records.
  PROFKIT_RETURN_IF_ERROR(StartSegmentLocked());
  if (counters_.recovered > 0 || counters_.corrupted_records > 0 || counters_.torn_tail_bytes > 0) {
    spdlog::info(
        "disk queue {}: resuming {} pending records; skipped {} corrupted records, truncated {} "
        "torn bytes",
        options_.dir, counters_.recovered, counters_.corrupted_records, counters_.torn_tail_bytes);
  }
  return Status::Ok();
}

Status DiskQueue::ScanSegment(const std::shared_ptr<Segment>& segment, bool is_last) {
  struct stat info;
  if (fstat(segment->fd, &info) != 0) return Status::FromErrno("stat " + segment->path, errno);
  std::string data(static_cast<size_t>(info.st_size), '\0');
  PROFKIT_RETURN_IF_ERROR(
      ReadAllAt(segment->fd, data.data(), data.size(), 0).WithContext(segment->path));

  size_t offset = 0;
  while (offset < data.size()) {
    if (const std::optional<uint32_t> length = ValidRecordAt(data, offset)) {
      const uint64_t id = next_id_++;
      entries_.emplace(id, Entry{segment, offset + kDiskQueueRecordHeaderBytes, *length});
      ready_.push_back(id);
      ++segment->live_records;
      ++counters_.recovered;
      offset += kDiskQueueRecordHeaderBytes + *length;
      continue;
    }
    // Resynchronize on the next record that checks out.
    size_t next = data.find(std::string_view(kMagic.data(), kMagic.size()), offset + 1);
    while (next != std::string::npos && !ValidRecordAt(data, next)) {
      next = data.find(std::string_view(kMagic.data(), kMagic.size()), next + 1);
    }
    if (next == std::string::npos) {
      // Nothing valid follows: a write cut short by a crash (or garbage after the last record).
      spdlog::warn("disk queue: {}: truncating {} bytes after the last valid record{}",
                   segment->path, data.size() - offset, is_last ? "" : " (not the last segment)");
      counters_.torn_tail_bytes += data.size() - offset;
      if (ftruncate(segment->fd, static_cast<off_t>(offset)) != 0) {
        return Status::FromErrno("truncate " + segment->path, errno);
      }
      data.resize(offset);
      break;
    }
    spdlog::warn("disk queue: {}: skipping {} bytes at offset {}: checksum mismatch", segment->path,
                 next - offset, offset);
    ++counters_.corrupted_records;
    offset = next;
  }
  segment->size = data.size();
  segment->written = data.size();
  segment->synced = data.size();
  counters_.disk_bytes += data.size();
  counters_.pending_records = entries_.size();
  return Status::Ok();
}

Status DiskQueue::StartSegmentLocked() {
  const std::string path = fmt::format("{}/{}{:020}{}", options_.dir, kSegmentPrefix,
                                       next_segment_number_, kSegmentSuffix);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("create " + path, errno);
  ++next_segment_number_;
  segments_.push_back(std::make_shared<Segment>(next_segment_number_ - 1, path, UniqueFd(fd)));
  PROFKIT_RETURN_IF_ERROR(SyncDirectory(options_.dir));
  // The previous segment is sealed now; it may already be fully delivered.
  if (segments_.size() >= 2) RetireIfDoneLocked(segments_[segments_.size() - 2]);
  return Status::Ok();
}

void DiskQueue::RetireIfDoneLocked(const std::shared_ptr<Segment>& segment) {
  if (segment->live_records > 0) return;
  if (segment == segments_.back()) {
    // StartSegmentLocked retires this one; on failure it stays and is reused.
    if (segment->size >= kDrainedRotateBytes) (void)StartSegmentLocked();
    return;
  }
  // An unlink failure only leaves a file whose records are replayed after a restart.
  if (unlink(segment->path.c_str()) != 0) {
    spdlog::warn("disk queue: unlink {}: {}", segment->path, std::strerror(errno));
  }
  counters_.disk_bytes -= segment->size;
  segments_.erase(std::find(segments_.begin(), segments_.end(), segment));
}

void DiskQueue::EraseLocked(std::map<uint64_t, Entry>::iterator entry) {
  const std::shared_ptr<Segment> segment = std::move(entry->second.segment);
  entries_.erase(entry);
  counters_.pending_records = entries_.size();
  --segment->live_records;
  RetireIfDoneLocked(segment);
  changed_.notify_all();
}

void DiskQueue::EvictLocked(uint64_t incoming_bytes) {
  while (counters_.disk_bytes + incoming_bytes > options_.capacity_bytes) {
    if (segments_.size() == 1) {
      // Only the segment being written to is left: seal it so that it can go.
      if (segments_.front()->size == 0 || !StartSegmentLocked().ok()) return;
      continue;
    }
    const std::shared_ptr<Segment> oldest = segments_.front();
    uint64_t evicted = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.segment != oldest) {
        ++it;
        continue;
      }
      it = entries_.erase(it);
      ++evicted;
    }
    ready_.erase(std::remove_if(ready_.begin(), ready_.end(),
                                [this](uint64_t id) { return entries_.count(id) == 0; }),
                 ready_.end());
    counters_.evicted_records += evicted;
    counters_.pending_records = entries_.size();
    spdlog::warn(
        "disk queue {}: over its capacity of {} bytes: evicted the oldest {} records ({} bytes, "
        "{} evicted so far)",
        options_.dir, options_.capacity_bytes, evicted, oldest->size, counters_.evicted_records);
    oldest->live_records = 0;
    RetireIfDoneLocked(oldest);
    changed_.notify_all();
  }
}

Status DiskQueue::Push(std::string_view payload) {
  const uint64_t record_bytes = kDiskQueueRecordHeaderBytes + payload.size();
  if (payload.size() > UINT32_MAX || record_bytes > options_.capacity_bytes) {
    std::lock_guard lock(mutex_);
    ++counters_.push_errors;
    return Status::TooLargef("disk queue: a record of {} bytes exceeds the capacity of {} bytes",
                             record_bytes, options_.capacity_bytes);
  }
  std::array<char, kDiskQueueRecordHeaderBytes> header;
  std::memcpy(header.data(), kMagic.data(), kMagic.size());
  PutU32(static_cast<uint32_t>(payload.size()), header.data() + 4);
  PutU32(RecordCrc(header.data() + 4, payload), header.data() + 8);

  std::shared_ptr<Segment> segment;
  uint64_t end = 0;
  {
    std::lock_guard lock(mutex_);
    EvictLocked(record_bytes);
    if (segments_.back()->size > 0 &&
        segments_.back()->size + record_bytes > SegmentBytes(options_)) {
      const Status started = StartSegmentLocked();
      if (!started.ok()) {
        ++counters_.push_errors;
        return started.WithContext("disk queue");
      }
    }
    segment = segments_.back();
    const uint64_t offset = segment->size;
    Status written =
        WriteAllAt(segment->fd, std::string_view(header.data(), header.size()), offset);
    if (written.ok()) written = WriteAllAt(segment->fd, payload, offset + header.size());
    if (!written.ok()) {
      // Leave no partial record behind (ENOSPC usually fails part way through).
      if (ftruncate(segment->fd, static_cast<off_t>(offset)) != 0) {
        spdlog::warn("disk queue: truncate {}: {}", segment->path, std::strerror(errno));
      }
      ++counters_.push_errors;
      return written.WithContext("disk queue: " + segment->path);
    }
    end = offset + record_bytes;
    segment->size = end;
    segment->written = end;
    ++segment->live_records;
    counters_.disk_bytes += record_bytes;
    const uint64_t id = next_id_++;
    entries_.emplace(id,
                     Entry{segment, offset + header.size(), static_cast<uint32_t>(payload.size())});
    ready_.push_back(id);
    ++counters_.pushed;
    counters_.pending_records = entries_.size();
  }
  available_.notify_one();
  const Status synced = segment->SyncTo(end);
  if (!synced.ok()) {
    // The record may still be delivered; the caller reports failure and the client retries.
    std::lock_guard lock(mutex_);
    ++counters_.push_errors;
    return synced.WithContext("disk queue");
  }
  return Status::Ok();
}

std::optional<DiskQueue::Lease> DiskQueue::Take(std::chrono::steady_clock::time_point deadline) {
  while (true) {
    std::shared_ptr<Segment> segment;
    uint64_t id = 0, offset = 0;
    uint32_t length = 0;
    {
      std::unique_lock lock(mutex_);
      if (!available_.wait_until(lock, deadline, [this] { return closed_ || !ready_.empty(); }) ||
          closed_) {
        return std::nullopt;
      }
      id = ready_.front();
      ready_.pop_front();
      Entry& entry = entries_.at(id);
      entry.taken = true;
      segment = entry.segment;
      offset = entry.offset;
      length = entry.length;
    }
    // Disks rot: check the checksum again on the way out.
    std::string record(kDiskQueueRecordHeaderBytes + length, '\0');
    Status read =
        ReadAllAt(segment->fd, record.data(), record.size(), offset - kDiskQueueRecordHeaderBytes);
    if (read.ok() && !ValidRecordAt(record, 0)) read = Status::InvalidInput("checksum mismatch");
    if (read.ok()) {
      record.erase(0, kDiskQueueRecordHeaderBytes);
      return Lease{id, std::move(record)};
    }
    spdlog::error("disk queue: dropping the record at {}:{}: {}", segment->path,
                  offset - kDiskQueueRecordHeaderBytes, read.message());
    std::lock_guard lock(mutex_);
    ++counters_.corrupted_records;
    if (const auto it = entries_.find(id); it != entries_.end()) EraseLocked(it);
  }
}

void DiskQueue::Ack(uint64_t id) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end()) return;
  ++counters_.acked;
  EraseLocked(it);
}

void DiskQueue::Release(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.taken) return;
    it->second.taken = false;
    ready_.push_back(id);
    ++counters_.released;
  }
  available_.notify_one();
}

void DiskQueue::Close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  available_.notify_all();
}

bool DiskQueue::WaitEmpty(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [this] { return entries_.empty(); });
}

DiskQueueCounters DiskQueue::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

}  // namespace profkit::forward
