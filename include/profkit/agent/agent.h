// `profkit run`: wires the configured roads together and runs them until asked to stop.
//   SampleSource (the eBPF sampler) → SamplingLoop's reader → SamplePipeline → every
//   upload_interval the loop's flush worker builds one pprof per service ┐
//   tracer pushes ([[inputs.profile]]) → ingest::Server                  ├→ Door → local
//   Pyroscope clients ([[inputs.profile.pyroscope]]) → pyroscope::Server │  files, Dataway,
//   Go programs ([[inputs.profile.go]]) → GoPullRunner                   ┘  metrics
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "profkit/agent/door.h"
#include "profkit/agent/go_pull_runner.h"
#include "profkit/common/status.h"
#include "profkit/config/config.h"
#include "profkit/forward/dataway_sink.h"
#include "profkit/forward/local_sink.h"
#include "profkit/kubernetes/pod_cache.h"
#include "profkit/ingest/server.h"
#include "profkit/metrics/publisher.h"
#include "profkit/pipeline/sample_pipeline.h"
#include "profkit/pyroscope/server.h"
#include "profkit/pipeline/sampling_loop.h"
#include "profkit/sampling/sample_source.h"

namespace profkit::agent {

struct MetricFamily;

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
  // The steps of Start, in order; each needs what the steps before it set up.
  // local.dir and dataway.url.
  Status StartSinks();
  // profiling_metrics (generate_metrics, with Dataway), then the door over the sinks and it.
  void OpenDoor();
  // [kubernetes]: the pod cache and its refresh thread (enabled).
  void StartKubernetes();
  // [[inputs.profile]]'s push endpoints on [http] listen, with /healthz, /ready and /metrics;
  // they need Dataway.
  Status StartPushEndpoint();
  // One listener per [[inputs.profile.pyroscope]], whether or not the push endpoints run.
  Status StartPyroscope();
  // [[inputs.profile.go]] targets.
  Status StartGoPull();
  // The sample source and the pipeline behind it (ebpf.enabled).
  Status StartEbpf(const sampling::SampleSourceFactory& sources);
  // The sampling road until `stop`; `tick` runs on the reader after every poll.
  Status RunSampling(const std::function<bool()>& stop, const std::function<void()>& tick);
  // On the flush worker: builds the batch's profiles and delivers them through the door.
  void DeliverBatch(const pipeline::FlushBatch& batch);
  void LogCounters();
  // Reader: copies the reader-owned counters for /metrics (served on other threads).
  void SnapshotReaderCounters();
  // For the push endpoint: the sending pod's tags (null without [kubernetes]), and the probes.
  std::function<ingest::Tags(const std::string&)> SenderTagsLookup() const;
  std::vector<ingest::ServerOptions::PlainRoute> PlainRoutes() const;
  // The families /metrics shows (any thread).
  std::vector<MetricFamily> MetricFamilies() const;

  const config::Config config_;
  std::string hostname_;
  std::unique_ptr<forward::LocalSink> local_;      // local.dir
  std::unique_ptr<forward::DatawaySink> dataway_;  // dataway.url
  // profiling_metrics of every profile to Dataway (generate_metrics); after dataway_, which it
  // queues into until its destructor has published what it still holds.
  std::unique_ptr<metrics::Publisher> metrics_;
  // Every profile leaves by it; after the sinks and metrics_, which it leads to.
  std::unique_ptr<Door> door_;
  // [kubernetes]: the node's pods; before server_ and pipeline_, which look pods up in it.
  std::unique_ptr<kubernetes::PodCache> pod_cache_;
  // /ready: true from the end of Start until the stop request.
  std::atomic<bool> ready_{false};
  // Set once at the end of Start: what Start sets up after the push server is complete.
  std::atomic<bool> started_{false};
  // /healthz: the eBPF programs are attached (set once the sampler started).
  std::atomic<bool> ebpf_attached_{false};
  // The reader-owned counters as of the last snapshot (about every second), for /metrics.
  struct ReaderCounters {
    sampling::SamplerCounters sampler;
    pipeline::PipelineCounters pipeline;
    pipeline::ProcessTableCounters processes;
    pipeline::PythonCounters python;
  };
  mutable std::mutex reader_counters_mutex_;
  std::optional<ReaderCounters> reader_counters_;  // guarded by reader_counters_mutex_
  // Declared after door_: destroyed first, as its handlers deliver through it.
  std::unique_ptr<ingest::Server> server_;
  // server_ for /metrics, which its handlers serve (set once it started).
  std::atomic<const ingest::Server*> push_server_{nullptr};
  // [[inputs.profile.pyroscope]] listeners; like server_, destroyed before the door.
  std::vector<std::unique_ptr<pyroscope::Server>> pyroscope_servers_;
  std::unique_ptr<pipeline::SamplePipeline> pipeline_;
  std::unique_ptr<sampling::SampleSource> sampler_;
  // Set while RunSampling runs (its counters are logged from the reader).
  const pipeline::SamplingLoop* loop_ = nullptr;
  // [[inputs.profile.go]]; declared last: stopped first, as its pullers deliver through door_.
  std::unique_ptr<GoPullRunner> go_pull_;
};

}  // namespace profkit::agent
