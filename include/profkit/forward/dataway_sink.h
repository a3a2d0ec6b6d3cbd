// Delivers everything bound for Dataway through one DiskQueue: profiles built by the agent
// (EnqueueUpload), uploads pushed by tracers and profiling_metrics (Enqueue). `upload_workers`
// sender threads take records from the queue; a record leaves it only after Dataway answered 2xx
// or a permanent refusal (docs/datakit-protocol.md §5 row 4: at least once, across restarts too).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "profkit/common/http_client.h"
#include "profkit/common/status.h"
#include "profkit/forward/disk_queue.h"
#include "profkit/forward/queued_request.h"
#include "profkit/forward/upload.h"

namespace profkit::forward {

struct DatawayOptions {
  std::string url;  // the configured dataway.url
  DiskQueueOptions queue;
  int upload_workers = 8;
  std::chrono::milliseconds send_timeout{75000};
  // Attempts per round (send_retry_count); after a failed round the record goes back to the
  // queue's tail.
  int max_attempts = 4;
  std::chrono::milliseconds initial_backoff{1000}, max_backoff{60000};
};

// 2xx: sent. 5xx, 408, 429 and transport errors: retried with exponential backoff and full jitter
// (the backoff grows with consecutive failures of any record, as they share one Dataway) up to
// max_attempts, then released to the queue's tail. Other statuses are permanent: logged with the
// record's service and dropped.
class DatawaySink {
 public:
  // Validates the URL and the options, opens (and recovers) the queue, starts the workers.
  static Result<std::unique_ptr<DatawaySink>> Create(DatawayOptions options);
  // Stops the workers promptly (a request in flight is cancelled); queued records stay on disk.
  ~DatawaySink();

  // Queues the upload as a multipart body; ok means it is durably queued.
  Status EnqueueUpload(const ProfileUpload& upload);
  // Durably queues one request; ok means it will be delivered.
  Status Enqueue(const QueuedRequest& request);
  // Waits until the queue is empty or `deadline`; what is left stays queued for the next start.
  void Flush(std::chrono::steady_clock::time_point deadline);

  struct Counters {
    uint64_t sent = 0;
    uint64_t failed_attempts = 0;  // each failed HTTP attempt (then retried or released)
    uint64_t dropped_permanent = 0;
    uint64_t dropped_undecodable = 0;  // queue records that are not a QueuedRequest
    DiskQueueCounters queue;
  };
  Counters counters() const;

 private:
  enum class Outcome { kSent, kPermanent, kRetryLater, kAborted };

  DatawaySink(DatawayOptions options, std::unique_ptr<DiskQueue> queue);
  void RunWorker();
  Outcome Deliver(const QueuedRequest& request, HttpClient& client, std::mt19937_64& jitter);
  // Waits the backoff due after consecutive failures; false when stopping meanwhile.
  bool WaitBackoff(std::mt19937_64& jitter);
  Result<std::string> UrlFor(const std::string& path);

  const DatawayOptions options_;
  std::unique_ptr<DiskQueue> queue_;
  std::atomic<int> consecutive_failures_{0};
  // Cancels requests in flight and backoff waits at shutdown.
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;

  mutable std::mutex mutex_;
  std::map<std::string, std::string> urls_;  // by endpoint path
  Counters counters_;
  std::vector<std::thread> workers_;
};

}  // namespace profkit::forward
