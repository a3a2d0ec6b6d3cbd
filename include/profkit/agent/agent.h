// `profkit run`: wires the configured roads together and runs them until asked to stop.
//   eBPF sampler → SamplePipeline → every upload_interval one pprof per service → sinks
// (local files and/or Dataway); tracer pushes ([[inputs.profile]]) → ingest::Server → the
// Dataway sink's durable queue; Go programs ([[inputs.profile.go]]) → GoPullRunner → sinks.
#pragma once

#include <atomic>
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
#include "profkit/sampling/bpf_sampler.h"

namespace profkit::agent {

class Agent {
 public:
  // Validates what the config alone cannot (hostname, sink set-up, BPF load) and starts sampling;
  // errors say which step failed and how to fix it.
  static Result<std::unique_ptr<Agent>> Start(const config::Config& config);
  ~Agent();

  // Runs until `stop` becomes true (set from a signal handler), then flushes the current interval
  // and the sinks within a few seconds.
  Status Run(const std::atomic<bool>& stop);

 private:
  explicit Agent(const config::Config& config);
  void FlushInterval(int64_t end_unix_ns);
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
  std::unique_ptr<sampling::BpfSampler> sampler_;
  int64_t interval_start_unix_ns_ = 0;
  // [[inputs.profile.go]]; declared last: stopped first, as its pullers submit to sinks_.
  std::unique_ptr<GoPullRunner> go_pull_;
};

}  // namespace profkit::agent
