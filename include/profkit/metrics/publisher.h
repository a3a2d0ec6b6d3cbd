// profiling_metrics for every profile that goes to Dataway (`generate_metrics = true`), handed
// over by the agent's door (agent/door.h) as the road already decoded it: pushed uploads after
// they are queued (measured later, on the publisher's thread), the other profiles at delivery.
// The point goes as line protocol to Dataway's /v1/write/metric through the same durable queue as
// the profiles. A profile whose metrics fail (bad part, decompression bomb) is
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
Result<std::string> FromUpload(const forward::ProfileUpload& upload, const MetricsOptions& options);

// A tracer's upload as ingest parsed and rewrote it (ingest::RewrittenUpload), owning copies of
// its profile files so that it can be measured after the client has its answer.
struct PushedProfile {
  std::string service;                                    // for log lines
  std::string language;                                   // DataKit's, as ingest resolved it
  std::vector<std::pair<std::string, std::string>> tags;  // the merged tags_profiler
  std::string start, end;  // RFC 3339, as the client sent them; "" when absent
  struct File {
    std::string name, filename, data;
  };
  std::vector<File> files;  // the upload's file parts, event.json excluded
};

// The same for a pushed upload: host, service, env and version come from its tags (host falls
// back to options.host); start and end must be RFC 3339.
Result<std::string> FromPushedProfile(const PushedProfile& profile, const MetricsOptions& options);

// "2026-11-22T01:14:25.745Z", "...+08:00", up to nine fraction digits → ns since the epoch.
Result<int64_t> ParseRfc3339Nanos(std::string_view text);

// Pushed uploads waiting for their metrics beyond this are not measured (counted in `shed`): the
// ingest path must not wait for metrics, and a burst must not hold unbounded copies of bodies.
inline constexpr size_t kMaxPendingUploads = 256;

struct PublisherCounters {
  uint64_t points = 0;   // queued lines
  uint64_t skipped = 0;  // profiles of a metric language that gave no point (no usable part)
  uint64_t errors = 0;   // profiles whose metrics failed (bad part, bomb) or could not be queued
  uint64_t shed = 0;     // pushed uploads not measured because kMaxPendingUploads were waiting
};

// Computes and queues the point of each profile; never fails the caller.
class Publisher {
 public:
  using Enqueue = std::function<Status(const forward::QueuedRequest&)>;

  Publisher(MetricsOptions options, Enqueue enqueue);
  // Publishes what PublishLater still holds, then stops its thread.
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  void Publish(const forward::ProfileUpload& upload);
  void Publish(const PushedProfile& profile);
  // Publish on the publisher's own thread, in submission order, so that an HTTP answer never
  // waits for metrics (about 0.5 ms of CPU for a dd-trace-js upload). Sheds when
  // kMaxPendingUploads are waiting.
  void PublishLater(PushedProfile profile);

  PublisherCounters counters() const;

 private:
  void Queue(const Result<std::string>& line, std::string_view service);
  void RunLater();

  const MetricsOptions options_;
  const Enqueue enqueue_;
  std::atomic<uint64_t> points_{0}, skipped_{0}, errors_{0}, shed_{0};

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PushedProfile> pending_;
  bool stopping_ = false;
  std::thread thread_;  // started by the first PublishLater
};

}  // namespace profkit::metrics
