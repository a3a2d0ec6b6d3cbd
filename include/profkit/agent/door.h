// The one door every profile leaves by. eBPF profiles, pulled Go profiles, Pyroscope uploads and
// tracer pushes all call Door::Deliver, which fans each out to local files, Dataway and
// profiling_metrics by one policy (README "Outputs", docs/ARCHITECTURE.md "One door"):
//
//   origin     local.dir   Dataway (durable queue)          profiling_metrics
//   eBPF       yes         yes                               yes, at delivery
//   pulled     yes         yes                               yes, at delivery
//   Pyroscope  yes         yes, on disk before the answer    yes, at delivery
//   pushed     no          yes, on disk before the answer    yes, later (publisher thread)
//
// Pushed uploads keep the client's files and event as ingest rewrote them, which is what Dataway
// expects and no pprof file layout; the other origins give one profile that is written as is.
// Metrics are only computed for uploads the Dataway queue took, from the upload as its road
// decoded it (nothing is re-parsed). Deliver returns the status of the durable copy (Dataway's,
// or the local file's when there is no Dataway), so that a listener answers 200 only once the
// upload is on disk; failures of the other copies, and of every copy of eBPF and pulled
// profiles, which nobody answers, are logged here. Thread-safe: the eBPF flush, the Go pullers
// and the HTTP pools deliver concurrently.
#pragma once

#include <functional>

#include "profkit/common/status.h"
#include "profkit/forward/queued_request.h"
#include "profkit/forward/upload.h"
#include "profkit/ingest/upload_rewrite.h"
#include "profkit/metrics/publisher.h"

namespace profkit::agent {

// Where a profile built as a forward::ProfileUpload comes from (pushed uploads have their own
// shape, ingest::RewrittenUpload).
enum class Origin { kEbpf, kPulled, kPyroscope };

// Where the door leads; an empty function or a null publisher is an outlet that is off. The real
// ones are forward::LocalSink, forward::DatawaySink and metrics::Publisher (agent.cc).
struct DoorOutlets {
  // local.dir: writes the profile's files; ok once they are on disk.
  std::function<Status(const forward::ProfileUpload&)> write_local;
  // dataway.url: ok once the profile's multipart upload is durably queued.
  std::function<Status(const forward::ProfileUpload&)> queue_upload;
  // dataway.url: ok once the request (a pushed upload's multipart) is durably queued.
  std::function<Status(const forward::QueuedRequest&)> queue_request;
  // generate_metrics; its points go to Dataway, so it is only set together with the queue.
  metrics::Publisher* metrics = nullptr;
};

class Door {
 public:
  explicit Door(DoorOutlets outlets) : outlets_(std::move(outlets)) {}

  // eBPF, pulled and Pyroscope profiles: the door builds the Dataway multipart from `profile`.
  Status Deliver(Origin origin, const forward::ProfileUpload& profile);
  // Tracer pushes: ingest's rewrite, whose multipart is what Dataway receives. Its part views
  // are read during the call only.
  Status Deliver(const ingest::RewrittenUpload& pushed);

 private:
  const DoorOutlets outlets_;
};

}  // namespace profkit::agent
