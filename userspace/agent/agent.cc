#include "profkit/agent/agent.h"

#include <fmt/ranges.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>

#include "profkit/common/clock.h"
#include "profkit/common/http_client.h"
#include "profkit/common/log.h"
#include "profkit/forward/dataway_sink.h"
#include "profkit/forward/local_sink.h"
#include "profkit/ingest/server.h"
#include "profkit/metrics/publisher.h"

namespace profkit::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// The ring buffer is polled at least this often so a stop request or a due flush is never late.
constexpr milliseconds kPollTimeout{100};
constexpr int64_t kCounterLogIntervalNs = 60'000'000'000;
// SIGINT/SIGTERM must end the process within 5 s: this much of it goes to delivering the last
// profiles, the rest to tearing down BPF.
constexpr milliseconds kShutdownFlushBudget{3000};

Result<std::string> ResolveHostname(const std::string& configured) {
  if (!configured.empty()) return configured;
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return Status::FromErrno("gethostname", errno);
  return std::string(name);
}

// Tags of an eBPF profile beyond service/env/version/host.
std::vector<std::pair<std::string, std::string>> ProfileTags(const profile::ServiceKey& key,
                                                             int sample_rate) {
  std::vector<std::pair<std::string, std::string>> tags = {{"sample_rate", std::to_string(sample_rate)}};
  // As dd-trace-py's profiles, which DataKit users already query by.
  if (key.language == "python") {
    tags.emplace_back("runtime", "cpython");
    if (!key.runtime_version.empty()) tags.emplace_back("runtime_version", key.runtime_version);
  }
  return tags;
}

std::string QueueDir(const config::Config& config) {
  const std::string& path = config.profile.io.cache_path;
  if (path.front() == '/' || config.agent.data_dir.empty()) return path;
  return config.agent.data_dir + "/" + path;
}

Result<std::unique_ptr<forward::DatawaySink>> StartDataway(const config::Config& config) {
  const config::ProfileIoConfig& io = config.profile.io;
  forward::DatawayOptions options{
      .url = config.dataway.url,
      .queue = {.dir = QueueDir(config),
                .capacity_bytes = static_cast<uint64_t>(io.cache_capacity_mb) << 20,
                .clear_on_start = io.clear_cache_on_start},
      .upload_workers = io.upload_workers,
      .send_timeout = duration_cast<milliseconds>(io.send_timeout),
      .max_attempts = io.send_retry_count};
  Result<std::unique_ptr<forward::DatawaySink>> dataway = forward::DatawaySink::Create(options);
  if (!dataway.ok()) return dataway.status().WithContext("dataway");
  spdlog::info("forwarding to {} through the queue in {} ({} MiB, {} workers)",
               UrlWithoutSecrets(config.dataway.url), options.queue.dir, io.cache_capacity_mb,
               io.upload_workers);
  return dataway;
}

}  // namespace

Agent::Agent(const config::Config& config) : config_(config) {}
Agent::~Agent() = default;

Result<std::unique_ptr<Agent>> Agent::Start(const config::Config& config) {
  std::unique_ptr<Agent> agent(new Agent(config));
  PROFKIT_ASSIGN_OR_RETURN(agent->hostname_, ResolveHostname(config.agent.hostname));

  if (!config.local.dir.empty()) {
    agent->sinks_.push_back(std::make_unique<forward::LocalSink>(config.local.dir));
    spdlog::info("writing profiles under {}/<service>/", config.local.dir);
  }
  if (!config.dataway.url.empty()) {
    PROFKIT_ASSIGN_OR_RETURN(std::unique_ptr<forward::DatawaySink> dataway,
                             StartDataway(config));
    agent->dataway_ = dataway.get();
    agent->sinks_.push_back(std::move(dataway));
  }
  if (agent->dataway_ != nullptr && config.profile.generate_metrics) {
    forward::DatawaySink* dataway = agent->dataway_;
    agent->metrics_ = std::make_unique<metrics::Publisher>(
        metrics::MetricsOptions{.host = agent->hostname_, .tags = config.profile.tags},
        [dataway](const forward::QueuedRequest& request) { return dataway->Enqueue(request); });
    // First: it reads every submitted profile (eBPF, pulled) before the last sink takes the bytes.
    agent->sinks_.insert(agent->sinks_.begin(),
                         std::make_unique<metrics::MetricsSink>(*agent->metrics_));
  }
  // Without a Dataway, [[inputs.profile]] may still hold Go pull targets (they write local files).
  if (config.profile.enabled && (agent->dataway_ != nullptr || config.profile.go_targets.empty())) {
    if (agent->dataway_ == nullptr) {
      return Status::InvalidInput(
          "[[inputs.profile]] forwards uploads to Dataway: set dataway.url (or remove the table)");
    }
    forward::DatawaySink* dataway = agent->dataway_;
    Result<std::unique_ptr<ingest::Server>> server = ingest::Server::Start(
        ingest::ServerOptions{
            .host = config.http.host,
            .port = config.http.port,
            .endpoints = config.profile.endpoints,
            .body_limit = static_cast<size_t>(config.profile.body_size_limit_mb) << 20,
            .rewrite = {.host = agent->hostname_, .tags = config.profile.tags}},
        [dataway, publisher = agent->metrics_.get()](const forward::QueuedRequest& request) {
          const Status queued = dataway->Enqueue(request);
          // Only for accepted uploads; a metrics failure never fails the upload.
          if (queued.ok() && publisher != nullptr) publisher->PublishQueuedLater(request);
          return queued;
        });
    if (!server.ok()) return server.status().WithContext("[http] listen");
    agent->server_ = std::move(server).value();
    spdlog::info("receiving profiles on http://{}:{} ({})", config.http.host,
                 agent->server_->port(), fmt::join(config.profile.endpoints, ", "));
    PROFKIT_RETURN_IF_ERROR(agent->StartPyroscope());
  }
  if (agent->sinks_.empty()) {
    spdlog::warn("neither dataway.url nor local.dir is set: profiles are built and discarded");
  }
  if (!config.profile.go_targets.empty()) {
    if (agent->dataway_ == nullptr) {
      spdlog::warn("[[inputs.profile]] push endpoints are off: they forward to Dataway only");
    }
    Agent* raw = agent.get();
    PROFKIT_ASSIGN_OR_RETURN(agent->go_pull_,
                             GoPullRunner::Start(config, agent->hostname_,
                                                 [raw](forward::ProfileUpload upload) {
                                                   raw->Submit(std::move(upload));
                                                 }));
  }

  if (config.ebpf.enabled) {
    agent->pipeline_ = std::make_unique<pipeline::SamplePipeline>(pipeline::PipelineOptions{
        .sample_rate_hz = config.ebpf.sample_rate, .default_env = config.ebpf.env});
    Result<std::unique_ptr<sampling::BpfSampler>> sampler = sampling::BpfSampler::Start(
        sampling::SamplerOptions{.sample_rate_hz = config.ebpf.sample_rate,
                                 .kernel_stacks = config.ebpf.kernel_stacks});
    if (!sampler.ok()) return sampler.status().WithContext("starting eBPF sampling");
    agent->sampler_ = std::move(sampler).value();
    agent->pipeline_->SetPythonRegistry(agent->sampler_.get());
    spdlog::info("eBPF sampling started: {} Hz on every CPU, one profile per service every {} s",
                 config.ebpf.sample_rate,
                 duration_cast<milliseconds>(config.ebpf.upload_interval).count() / 1000.0);
  } else {
    spdlog::info("eBPF sampling is disabled (ebpf.enabled = false)");
  }
  agent->interval_start_unix_ns_ = WallTimeNanos();
  // Loading (kernel BTF for CO-RE relocations, kallsyms) peaks far above the steady state.
  malloc_trim(0);
  return agent;
}

Status Agent::Run(const std::atomic<bool>& stop) {
  const int64_t interval_ns = config_.ebpf.upload_interval.count();
  int64_t next_flush_mono = MonotonicNanos() + interval_ns;
  int64_t next_counter_log = MonotonicNanos() + kCounterLogIntervalNs;
  const auto handle = [this](const sampling::Record& record) { pipeline_->Handle(record); };

  while (!stop.load(std::memory_order_relaxed)) {
    if (sampler_) {
      Result<int> polled = sampler_->Poll(kPollTimeout, handle);
      if (!polled.ok()) return polled.status().WithContext("reading samples");
    } else {
      usleep(duration_cast<std::chrono::microseconds>(kPollTimeout).count());
    }
    const int64_t now = MonotonicNanos();
    if (now >= next_flush_mono) {
      FlushInterval(WallTimeNanos());
      // Catch up without a burst of empty flushes after a stall (e.g. a suspended VM).
      next_flush_mono = std::max(next_flush_mono + interval_ns, now + interval_ns / 2);
    }
    if (now >= next_counter_log) {
      LogCounters();
      next_counter_log = now + kCounterLogIntervalNs;
    }
  }

  // No upload is accepted after this, and every accepted one is already queued.
  if (go_pull_) go_pull_->Stop();
  server_.reset();
  pyroscope_servers_.clear();
  spdlog::info("stopping: flushing the current interval");
  const auto deadline = std::chrono::steady_clock::now() + kShutdownFlushBudget;
  if (sampler_) {
    // Drain what is already in the ring buffer so the last samples make it into the profile.
    Result<int> drained = sampler_->Poll(milliseconds(0), handle);
    if (!drained.ok()) spdlog::warn("draining samples: {}", drained.status().message());
  }
  FlushInterval(WallTimeNanos());
  for (const auto& sink : sinks_) sink->Flush(deadline);
  LogCounters();
  return Status::Ok();
}

void Agent::FlushInterval(int64_t end_unix_ns) {
  if (!pipeline_) return;
  const pipeline::IntervalTiming timing{
      .start_unix_ns = interval_start_unix_ns_,
      .end_unix_ns = end_unix_ns,
      .sample_period_ns = 1'000'000'000 / config_.ebpf.sample_rate};
  interval_start_unix_ns_ = end_unix_ns;
  const int64_t flush_start = MonotonicNanos();
  const auto handle = [this](const sampling::Record& record) { pipeline_->Handle(record); };
  std::vector<pipeline::ServiceProfile> profiles = pipeline_->FlushPprof(timing, [&] {
    // Symbolizing can take a while (DWARF on first use); keep up with exec events meanwhile.
    if (sampler_) (void)sampler_->Poll(milliseconds(0), handle);
  });
  spdlog::debug("built {} profiles in {} ms", profiles.size(), (MonotonicNanos() - flush_start) / 1'000'000);
  for (pipeline::ServiceProfile& profile : profiles) {
    forward::ProfileUpload upload{
        .service = profile.key.service,
        .env = profile.key.env,
        .version = profile.key.version,
        .host = hostname_,
        .language = profile.key.language,
        .extra_tags = ProfileTags(profile.key, config_.ebpf.sample_rate),
        .start_unix_nanos = timing.start_unix_ns,
        .end_unix_nanos = timing.end_unix_ns,
        .attachments = {forward::Attachment{.name = "cpu.pprof", .data = std::move(profile.pprof_gzip)}}};
    spdlog::debug("profile of service '{}': {} samples", upload.service, profile.samples);
    Submit(std::move(upload));
  }
  // Building profiles allocates in bursts; hand the freed pages back instead of keeping the peak.
  malloc_trim(0);
}

// Each Pyroscope upload goes to the same sinks as the eBPF profiles, but the Dataway copy is
// queued synchronously so that the client gets its 200 only once the upload is on disk.
Status Agent::StartPyroscope() {
  std::vector<forward::ProfileSink*> copies;
  for (const auto& sink : sinks_) {
    if (sink.get() != dataway_) copies.push_back(sink.get());
  }
  forward::DatawaySink* dataway = dataway_;
  const pyroscope::Deliver deliver = [copies, dataway](const forward::ProfileUpload& upload) {
    for (forward::ProfileSink* sink : copies) sink->Submit(upload);
    return dataway == nullptr ? Status::Ok() : dataway->EnqueueUpload(upload);
  };
  for (const config::PyroscopeInputConfig& input : config_.profile.pyroscope) {
    Result<std::unique_ptr<pyroscope::Server>> server = pyroscope::Server::Start(
        pyroscope::ListenerContext{
            .input = input,
            .agent_host = hostname_,
            .body_limit = static_cast<size_t>(config_.profile.body_size_limit_mb) << 20},
        deliver);
    if (!server.ok()) return server.status().WithContext("[[inputs.profile.pyroscope]] url");
    spdlog::info("receiving Pyroscope profiles on http://{}:{} ({}, {})", input.host,
                 (*server)->port(), pyroscope::kIngestPath, pyroscope::kPushPath);
    pyroscope_servers_.push_back(std::move(server).value());
  }
  return Status::Ok();
}

void Agent::Submit(forward::ProfileUpload upload) {
  // Every sink but the last gets a copy; the last takes the bytes.
  for (size_t i = 0; i + 1 < sinks_.size(); ++i) sinks_[i]->Submit(upload);
  if (!sinks_.empty()) sinks_.back()->Submit(std::move(upload));
}

void Agent::LogCounters() {
  if (go_pull_) go_pull_->LogCounters();
  for (const auto& server : pyroscope_servers_) {
    const pyroscope::ServerCounters c = server->counters();
    spdlog::info("pyroscope counters (port {}): accepted={} rejected={} queue_errors={}",
                 server->port(), c.accepted, c.rejected, c.queue_errors);
  }
  if (server_) {
    const ingest::ServerCounters c = server_->counters();
    spdlog::info("ingest counters: accepted={} rejected={} queue_errors={} tracer_requests={}",
                 c.accepted, c.rejected, c.queue_errors, c.tracer_requests);
  }
  if (dataway_) {
    const forward::DatawaySink::Counters c = dataway_->counters();
    spdlog::info(
        "dataway counters: sent={} failed_attempts={} dropped_permanent={} pending={} "
        "queue_bytes={} evicted={} corrupted={} push_errors={}",
        c.sent, c.failed_attempts, c.dropped_permanent, c.queue.pending_records,
        c.queue.disk_bytes, c.queue.evicted_records, c.queue.corrupted_records,
        c.queue.push_errors);
  }
  if (metrics_) {
    const metrics::PublisherCounters c = metrics_->counters();
    spdlog::info("profiling_metrics counters: points={} skipped={} errors={} shed={}", c.points,
                 c.skipped, c.errors, c.shed);
  }
  if (!pipeline_ || !sampler_) return;
  const sampling::SamplerCounters s = sampler_->counters();
  const pipeline::PipelineCounters p = pipeline_->counters();
  const pipeline::ProcessTableCounters t = pipeline_->process_counters();
  spdlog::info(
      "counters: samples={} ringbuf_drops={} stack_errors={} decode_errors={} process_events={} "
      "orphan_samples={} truncated_stacks={} aggregation_drops={} profiles={} profile_errors={} "
      "processes={} proc_read_failures={} unmapped_frames={} collected={}",
      s.samples, s.ringbuf_drops, s.stack_errors, s.decode_errors, s.process_events, p.orphan_samples,
      p.truncated_stacks, p.aggregation_drops, p.profiles_built, p.profile_errors, t.processes,
      t.proc_read_failures, t.unmapped_frames, t.collected);
  const pipeline::PythonCounters py = pipeline_->python_counters();
  spdlog::info(
      "python counters: processes={} detected={} unsupported={} registration_failures={} "
      "samples={} walk_failures={} stacks={} truncated={} code_reads={} code_read_failures={} "
      "checksum_mismatches={} functions={} function_table_full={}",
      py.processes, py.detected, py.unsupported, py.registration_failures, s.python_samples,
      s.python_walk_failures, p.python_stacks, p.python_truncated_stacks, py.code_reads,
      py.code_read_failures, py.checksum_mismatches, py.functions, py.function_table_full);
}

}  // namespace profkit::agent
