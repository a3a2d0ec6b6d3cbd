// Uploads profiles to Dataway from one sender thread, with retries (at-least-once within the
// process lifetime; datakit-profile.md §10 row 4). Until the durable disk queue exists, the queue
// is an in-memory FIFO bounded by bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "profkit/common/http_client.h"
#include "profkit/common/status.h"
#include "profkit/forward/sink.h"

namespace profkit::forward {

struct DatawayOptions {
  std::string url;  // the configured dataway.url
  std::chrono::milliseconds send_timeout{75000};
  // Attempts per round; after a failed round the upload goes back to the queue tail.
  int max_attempts = 4;
  std::chrono::milliseconds initial_backoff{1000}, max_backoff{60000};
  size_t max_queued_bytes = 256 << 20;
};

// 2xx: sent. 5xx, 408, 429 and transport errors: retried with exponential backoff and full jitter
// (the backoff grows with consecutive failures of any upload, as they share one Dataway) up to
// max_attempts, then re-queued at the tail. Other statuses are permanent: dropped with an error.
// Over max_queued_bytes the oldest queued uploads are dropped with a warning.
class DatawaySink : public ProfileSink {
 public:
  // Validates the URL and the options.
  static Result<std::unique_ptr<DatawaySink>> Create(DatawayOptions options);
  ~DatawaySink() override;  // stops the thread promptly, without flushing

  void Submit(ProfileUpload upload) override;
  // Keeps sending until the queue is empty or `deadline`; then drops (and logs) what is left.
  void Flush(std::chrono::steady_clock::time_point deadline) override;

  struct Counters {
    uint64_t sent = 0;
    uint64_t retries = 0;  // attempts after a failed one
    uint64_t dropped_permanent = 0;
    uint64_t dropped_overflow = 0;
    uint64_t dropped_shutdown = 0;  // given up on by Flush
    uint64_t queued_bytes = 0;      // including the upload being sent
  };
  Counters counters() const;

 private:
  struct Pending {
    std::string service;
    int64_t end_unix_nanos = 0;
    MultipartBody multipart;
    bool failed_before = false;
  };
  enum class Outcome { kSent, kPermanent, kRetryLater, kAborted };

  DatawaySink(DatawayOptions options, std::string upload_url);
  void Run();
  Outcome Deliver(Pending& item);
  // Waits the backoff due after consecutive failures; false when aborted meanwhile.
  bool WaitBackoff();
  bool AbortRequested() const;                            // mutex_ held
  void DropLocked(const Pending& item, const char* why);  // mutex_ held

  const DatawayOptions options_;
  const std::string upload_url_;
  HttpClient client_;             // sender thread only
  std::mt19937_64 jitter_;        // sender thread only
  int consecutive_failures_ = 0;  // sender thread only

  mutable std::mutex mutex_;
  std::condition_variable wake_sender_;
  std::condition_variable idle_;  // queue empty and nothing in flight, or the sender gave one back
  std::deque<Pending> queue_;
  bool in_flight_ = false;
  bool stopping_ = false;
  // Set when the sender must give up what it is doing (shutdown or an expired Flush deadline);
  // also cancels the HTTP request in flight.
  std::atomic<bool> abort_{false};
  Counters counters_;
  std::thread sender_;
};

}  // namespace profkit::forward
