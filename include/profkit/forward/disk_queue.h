// The one durable queue for everything that goes to Dataway (ARCHITECTURE.md "One queue to the
// outside"). Records are appended to segment files "<dir>/seg-<20-digit number>.q"; each record is
//   u32 magic "PKQ1" | u32 payload length | u32 crc32(length bytes + payload) | payload
// (little endian; crc32 is zlib's). Push returns only after the record is fdatasync'ed, so an
// acknowledged record survives kill -9 and power loss.
//
// On Open every segment is scanned: a torn tail (a partial last record, as a crash mid-write
// leaves it) is truncated away and counted; a record whose checksum fails is skipped and counted,
// and the scan resynchronizes on the next valid record. Every record found is pending again:
// delivery is at least once. Recovered segments are never appended to; a fresh one is started.
//
// Records leave the queue by Take → (Ack | Release). A segment file is deleted once it is no
// longer written to and all its records are acknowledged; the segment being written to is
// replaced by a fresh one once it is fully acknowledged and holds 1 MiB, and deleted by a clean
// close when empty of pending records. So after a crash, at most the delivered records of
// segments that still hold a pending record (or of the last, < 1 MiB, one) are sent again.
// Over `capacity_bytes` (file bytes on disk), Push evicts the oldest segments, whole, and logs
// and counts the records lost.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit::forward {

// Bytes of a record around its payload.
inline constexpr size_t kDiskQueueRecordHeaderBytes = 12;

struct DiskQueueOptions {
  std::string dir;
  uint64_t capacity_bytes = 10240ull << 20;  // DataKit's cache_capacity_mb default
  bool clear_on_start = false;               // delete every segment before scanning
  // A new segment is started past this many bytes; 0 = capacity/8, clamped to [64 KiB, 32 MiB]
  // so that eviction never has to throw away more than an eighth of the queue at once.
  uint64_t segment_bytes = 0;
};

struct DiskQueueCounters {
  uint64_t pushed = 0;
  uint64_t acked = 0;
  uint64_t released = 0;           // given back for a later attempt
  uint64_t recovered = 0;          // records found pending by Open
  uint64_t corrupted_records = 0;  // skipped because their checksum failed
  uint64_t torn_tail_bytes = 0;    // truncated away by Open
  uint64_t evicted_records = 0;    // lost to capacity eviction
  uint64_t push_errors = 0;        // write or fsync failures (the record was not queued)
  uint64_t pending_records = 0;    // waiting or being delivered
  uint64_t disk_bytes = 0;         // size of the segment files
};

class DiskQueue {
 public:
  struct Lease {
    uint64_t id = 0;
    std::string payload;
  };

  // Creates `dir` if needed, then recovers what is in it.
  static Result<std::unique_ptr<DiskQueue>> Open(DiskQueueOptions options);
  ~DiskQueue();
  DiskQueue(const DiskQueue&) = delete;
  DiskQueue& operator=(const DiskQueue&) = delete;

  // Appends and syncs the record. An error (payload larger than the capacity, disk full, I/O
  // error) means nothing was queued; the queue stays usable. Thread-safe; concurrent pushes share
  // fsyncs.
  Status Push(std::string_view payload);

  // The oldest record not being delivered, waiting until `deadline` for one; nullopt at the
  // deadline or after Close(). An I/O error reading a record counts it as corrupted and drops it.
  std::optional<Lease> Take(std::chrono::steady_clock::time_point deadline);
  // Delivered (or permanently refused): the record leaves the queue. Unknown ids (evicted
  // meanwhile) are ignored.
  void Ack(uint64_t id);
  // Not delivered now: the record goes to the back of the queue.
  void Release(uint64_t id);

  // Wakes every Take, which returns nullopt from now on.
  void Close();
  // Waits until no record is pending (waiting or taken) or `deadline`; true when empty.
  bool WaitEmpty(std::chrono::steady_clock::time_point deadline);

  DiskQueueCounters counters() const;

 private:
  struct Segment;
  struct Entry {
    std::shared_ptr<Segment> segment;
    uint64_t offset = 0;  // of the payload
    uint32_t length = 0;
    bool taken = false;
  };

  explicit DiskQueue(DiskQueueOptions options);
  Status Recover();
  Status ScanSegment(const std::shared_ptr<Segment>& segment, bool is_last);
  Status StartSegmentLocked();
  void EvictLocked(uint64_t incoming_bytes);
  void RetireIfDoneLocked(const std::shared_ptr<Segment>& segment);
  void EraseLocked(std::map<uint64_t, Entry>::iterator entry);

  const DiskQueueOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable available_;              // a record was pushed or released, or Close()
  std::condition_variable changed_;                // a record left the queue
  std::map<uint64_t, Entry> entries_;              // by id = queue order of first arrival
  std::deque<uint64_t> ready_;                     // ids not taken, in delivery order
  std::deque<std::shared_ptr<Segment>> segments_;  // oldest first; back() is written to
  uint64_t next_id_ = 1;
  uint64_t next_segment_number_ = 0;
  bool closed_ = false;
  DiskQueueCounters counters_;
};

}  // namespace profkit::forward
