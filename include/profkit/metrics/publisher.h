// profiling_metrics for every profile that goes to Dataway (`generate_metrics = true`): pushed
// uploads after they are queued, and the agent's own profiles (eBPF, Go pull) at their one
// submission spot. The point goes as line protocol to Dataway's /v1/write/metric through the same
// durable queue as the profiles. A profile whose metrics fail (bad part, decompression bomb) is
// still forwarded: only its point is skipped, with a rate-limited log line and a counter.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/forward/queued_request.h"
#include "profkit/forward/sink.h"
#include "profkit/forward/upload.h"
#include "profkit/metrics/profile_metrics.h"

namespace profkit::metrics {

inline constexpr std::string_view kMeasurement = "profiling_metrics";
// Dataway reads /v1/write/metric bodies without a Content-Type as line protocol too; say it.
inline constexpr std::string_view kLineProtocolContentType = "text/plain; charset=utf-8";

struct MetricsOptions {
  std::string host;  // the agent's host name, for profiles that name none
  std::vector<std::pair<std::string, std::string>> tags;  // [inputs.profile.tags]; override
  size_t max_part_bytes = kMaxDecompressedPartBytes;
};

// The line for one profile: measurement profiling_metrics, tags language, host, service, env,
// version (the profile's; host falls back to options.host) overridden by options.tags, time =
// end. "" when the language has no metrics or the profile none of their parts.
Result<std::string> FromUpload(const forward::ProfileUpload& upload,
                               const MetricsOptions& options);

// The same for a queued push upload (a multipart with an event.json in DataKit's metadata schema,
// as ingest::RewriteUpload builds it): language, tags_profiler, start and end come from the event.
Result<std::string> FromQueuedUpload(const forward::QueuedRequest& request,
                                     const MetricsOptions& options);

// "2026-11-22T01:14:25.745Z", "...+08:00", up to nine fraction digits → ns since the epoch.
Result<int64_t> ParseRfc3339Nanos(std::string_view text);

// Pushed uploads waiting for their metrics beyond this are not measured (counted in `shed`): the
// ingest path must not wait for metrics, and a burst must not hold unbounded copies of bodies.
inline constexpr size_t kMaxPendingUploads = 256;

struct PublisherCounters {
  uint64_t points = 0;     // queued lines
  uint64_t skipped = 0;    // profiles of a metric language that gave no point (no usable part)
  uint64_t errors = 0;     // profiles whose metrics failed (bad part, bomb) or could not be queued
  uint64_t shed = 0;       // pushed uploads not measured because kMaxPendingUploads were waiting
};

// Computes and queues the point of each profile; never fails the caller.
class Publisher {
 public:
  using Enqueue = std::function<Status(const forward::QueuedRequest&)>;

  Publisher(MetricsOptions options, Enqueue enqueue);
  // Publishes what PublishQueuedLater still holds, then stops its thread.
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  void Publish(const forward::ProfileUpload& upload);
  // For requests of other paths than the profile upload, nothing.
  void PublishQueued(const forward::QueuedRequest& request);
  // PublishQueued on the publisher's own thread, in submission order, so that an HTTP answer
  // never waits for metrics (about 0.5 ms of CPU for a dd-trace-js upload). Sheds when
  // kMaxPendingUploads are waiting.
  void PublishQueuedLater(forward::QueuedRequest request);

  PublisherCounters counters() const;

 private:
  void Queue(const Result<std::string>& line, std::string_view service);
  void RunLater();

  const MetricsOptions options_;
  const Enqueue enqueue_;
  std::atomic<uint64_t> points_{0}, skipped_{0}, errors_{0}, shed_{0};

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<forward::QueuedRequest> pending_;
  bool stopping_ = false;
  std::thread thread_;  // started by the first PublishQueuedLater
};

// Publishes the metrics of every profile submitted to it; put it before the other sinks so the
// agent's one submission loop covers eBPF and pulled profiles alike.
class MetricsSink : public forward::ProfileSink {
 public:
  explicit MetricsSink(Publisher& publisher) : publisher_(publisher) {}
  void Submit(forward::ProfileUpload upload) override { publisher_.Publish(upload); }
  // Points are queued synchronously by Submit.
  void Flush(std::chrono::steady_clock::time_point) override {}

 private:
  Publisher& publisher_;
};

}  // namespace profkit::metrics
