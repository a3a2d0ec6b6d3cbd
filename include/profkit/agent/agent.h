// `profkit run`: wires the configured roads together and runs them until asked to stop.
//   SampleSource (the eBPF sampler) → SamplingLoop's reader → SamplePipeline → every
//   upload_interval the loop's flush worker builds one pprof per service → sinks
// (local files and/or Dataway); tracer pushes ([[inputs.profile]]) → ingest::Server → the
// Dataway sink's durable queue; Go programs ([[inputs.profile.go]]) → GoPullRunner → sinks.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "profkit/agent/go_pull_runner.h"
#include "profkit/common/status.h"
#include "profkit/config/config.h"
#include "profkit/forward/dataway_sink.h"
#include "profkit/forward/sink.h"
#include "profkit/ingest/server.h"
#include "profkit/metrics/publisher.h"
#include "profkit/pipeline/sample_pipeline.h"
#include "profkit/pyroscope/server.h"
#include "profkit/pipeline/sampling_loop.h"
#include "profkit/sampling/sample_source.h"

namespace profkit::agent {

class Agent {
 public:
  // Validates what the config alone cannot (hostname, sink set-up, BPF load) and starts sampling
  // from the source `sources` makes (called only when ebpf.enabled); errors say which step
  // failed and how to fix it.
  static Result<std::unique_ptr<Agent>> Start(const config::Config& config,
                                               const sampling::SampleSourceFactory& sources);
  ~Agent();

  // Runs until `stop` becomes true (set from a signal handler), then flushes the current interval
  // and the sinks within a few seconds.
  Status Run(const std::atomic<bool>& stop);

 private:
  explicit Agent(const config::Config& config);
  // The sampling road until `stop`; `tick` runs on the reader after every poll.
  Status RunSampling(const std::function<bool()>& stop, const std::function<void()>& tick);
  // On the flush worker: builds the batch's profiles and submits them.
  void DeliverBatch(const pipeline::FlushBatch& batch);
  void LogCounters();
  // One listener per [[inputs.profile.pyroscope]]; needs sinks_ and hostname_.
  Status StartPyroscope();
  // The one way profiles reach the sinks (eBPF flushes, Go pulls); thread-safe.
  void Submit(forward::ProfileUpload upload);

  const config::Config config_;
  std::string hostname_;
  std::vector<std::unique_ptr<forward::ProfileSink>> sinks_;
  forward::DatawaySink* dataway_ = nullptr;  // one of sinks_, when dataway.url is set
  // profiling_metrics of every profile to Dataway (generate_metrics); fed by sinks_.front() and
  // server_, so declared between them.
  std::unique_ptr<metrics::Publisher> metrics_;
  // Declared after sinks_: destroyed first, as its handlers queue into dataway_.
  std::unique_ptr<ingest::Server> server_;
  // [[inputs.profile.pyroscope]] listeners; like server_, destroyed before the sinks.
  std::vector<std::unique_ptr<pyroscope::Server>> pyroscope_servers_;
  std::unique_ptr<pipeline::SamplePipeline> pipeline_;
  std::unique_ptr<sampling::SampleSource> sampler_;
  // Set while RunSampling runs (its counters are logged from the reader).
  const pipeline::SamplingLoop* loop_ = nullptr;
  // [[inputs.profile.go]]; declared last: stopped first, as its pullers submit to sinks_.
  std::unique_ptr<GoPullRunner> go_pull_;
};

}  // namespace profkit::agent
