#include "profkit/agent/agent.h"

#include <fmt/ranges.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include "profkit/common/clock.h"
#include "profkit/common/http_client.h"
#include "profkit/common/log.h"

namespace profkit::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// The ring buffer is polled at least this often so a stop request or a due flush is never late.
constexpr milliseconds kPollTimeout{100};
constexpr int64_t kCounterLogIntervalNs = 60'000'000'000;
// SIGINT/SIGTERM must end the process within 5 s: this much of it, counted from the stop request,
// goes to building and delivering the last profiles, the rest to tearing down BPF.
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
  std::vector<std::pair<std::string, std::string>> tags = {
      {"sample_rate", std::to_string(sample_rate)}};
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

// Test hook (tests/integration/test_run.py): PROFKIT_DEBUG_SYMBOLIZE_DELAY_US=N makes every
// symbolization of a flush sleep N µs, to show that a slow flush does not delay sampling.
std::chrono::microseconds DebugSymbolizeDelay() {
  const char* value = std::getenv("PROFKIT_DEBUG_SYMBOLIZE_DELAY_US");
  if (value == nullptr) return std::chrono::microseconds(0);
  const long long us = std::strtoll(value, nullptr, 10);
  // At most 1 s per frame: a typo must not hang the agent for hours.
  return std::chrono::microseconds(std::clamp<long long>(us, 0, 1'000'000));
}

}  // namespace

Agent::Agent(const config::Config& config) : config_(config) {}
Agent::~Agent() {
  // The table store writes to the sampler's maps until it stops: before the sampler goes.
  if (pipeline_) pipeline_->SetUnwindMaps(nullptr);
}

Result<std::unique_ptr<Agent>> Agent::Start(const config::Config& config,
                                            const sampling::SampleSourceFactory& sources) {
  std::unique_ptr<Agent> agent(new Agent(config));
  PROFKIT_ASSIGN_OR_RETURN(agent->hostname_, ResolveHostname(config.agent.hostname));
  PROFKIT_RETURN_IF_ERROR(agent->StartSinks());
  agent->OpenDoor();
  PROFKIT_RETURN_IF_ERROR(agent->StartPushEndpoint());
  PROFKIT_RETURN_IF_ERROR(agent->StartPyroscope());
  PROFKIT_RETURN_IF_ERROR(agent->StartGoPull());
  PROFKIT_RETURN_IF_ERROR(agent->StartEbpf(sources));
  // Loading (kernel BTF for CO-RE relocations, kallsyms) peaks far above the steady state.
  malloc_trim(0);
  return agent;
}

Status Agent::StartSinks() {
  if (!config_.local.dir.empty()) {
    local_ = std::make_unique<forward::LocalSink>(config_.local.dir);
    spdlog::info("writing profiles under {}/<service>/", config_.local.dir);
  }
  if (!config_.dataway.url.empty()) {
    PROFKIT_ASSIGN_OR_RETURN(dataway_, StartDataway(config_));
  }
  if (!local_ && !dataway_) {
    spdlog::warn("neither dataway.url nor local.dir is set: profiles are built and discarded");
  }
  return Status::Ok();
}

void Agent::OpenDoor() {
  DoorOutlets outlets;
  if (local_) {
    outlets.write_local = [local = local_.get()](const forward::ProfileUpload& upload) {
      const Result<std::string> path = local->Write(upload);
      if (path.ok()) spdlog::debug("local sink: wrote {}", *path);
      return path.status();
    };
  }
  if (dataway_) {
    forward::DatawaySink* dataway = dataway_.get();
    const auto enqueue = [dataway](const forward::QueuedRequest& request) {
      return dataway->Enqueue(request);
    };
    outlets.queue_upload = [dataway](const forward::ProfileUpload& upload) {
      return dataway->EnqueueUpload(upload);
    };
    outlets.queue_request = enqueue;
    if (config_.profile.generate_metrics) {
      metrics_ = std::make_unique<metrics::Publisher>(
          metrics::MetricsOptions{.host = hostname_, .tags = config_.profile.tags}, enqueue);
      outlets.metrics = metrics_.get();
    }
  }
  door_ = std::make_unique<Door>(std::move(outlets));
}

Status Agent::StartPushEndpoint() {
  if (!config_.profile.enabled) return Status::Ok();
  if (!dataway_) {
    // Without a Dataway, [[inputs.profile]] may still hold Go pull targets and Pyroscope
    // listeners: they write local files.
    if (config_.profile.go_targets.empty() && config_.profile.pyroscope.empty()) {
      return Status::InvalidInput(
          "[[inputs.profile]] forwards uploads to Dataway: set dataway.url (or remove the table)");
    }
    spdlog::warn("[[inputs.profile]] push endpoints are off: they forward to Dataway only");
    return Status::Ok();
  }
  Result<std::unique_ptr<ingest::Server>> server = ingest::Server::Start(
      ingest::ServerOptions{.host = config_.http.host,
                            .port = config_.http.port,
                            .endpoints = config_.profile.endpoints,
                            .body_limit = static_cast<size_t>(config_.profile.body_size_limit_mb)
                                          << 20,
                            .rewrite = {.host = hostname_, .tags = config_.profile.tags}},
      [door = door_.get()](const ingest::RewrittenUpload& upload) {
        return door->Deliver(upload);
      });
  if (!server.ok()) return server.status().WithContext("[http] listen");
  server_ = std::move(server).value();
  spdlog::info("receiving profiles on http://{}:{} ({})", config_.http.host, server_->port(),
               fmt::join(config_.profile.endpoints, ", "));
  return Status::Ok();
}

// Each Pyroscope upload goes through the door like the eBPF profiles, but the client gets its
// 200 only once the durable copy (Dataway's, else the local file) is on disk.
Status Agent::StartPyroscope() {
  if (config_.profile.pyroscope.empty()) return Status::Ok();
  if (!dataway_ && !local_) {
    return Status::InvalidInput(
        "[[inputs.profile.pyroscope]] needs somewhere to deliver to: set dataway.url or local.dir");
  }
  const pyroscope::Deliver deliver = [door = door_.get()](const forward::ProfileUpload& upload) {
    return door->Deliver(Origin::kPyroscope, upload);
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

Status Agent::StartGoPull() {
  if (config_.profile.go_targets.empty()) return Status::Ok();
  PROFKIT_ASSIGN_OR_RETURN(
      go_pull_,
      GoPullRunner::Start(config_, hostname_, [door = door_.get()](forward::ProfileUpload upload) {
        (void)door->Deliver(Origin::kPulled, upload);
      }));
  return Status::Ok();
}

Status Agent::StartEbpf(const sampling::SampleSourceFactory& sources) {
  if (!config_.ebpf.enabled) {
    spdlog::info("eBPF sampling is disabled (ebpf.enabled = false)");
    return Status::Ok();
  }
  pipeline_ = std::make_unique<pipeline::SamplePipeline>(
      pipeline::PipelineOptions{.sample_rate_hz = config_.ebpf.sample_rate,
                                .default_env = config_.ebpf.env,
                                .debug_symbolize_delay = DebugSymbolizeDelay()});
  Result<std::unique_ptr<sampling::SampleSource>> sampler = sources(sampling::SamplerOptions{
      .sample_rate_hz = config_.ebpf.sample_rate,
      .kernel_stacks = config_.ebpf.kernel_stacks,
      .unwind_table_bytes = config_.ebpf.native_unwinding
                                ? static_cast<size_t>(config_.ebpf.unwind_table_max_mb) << 20
                                : 0});
  if (!sampler.ok()) return sampler.status().WithContext("starting eBPF sampling");
  sampler_ = std::move(sampler).value();
  pipeline_->SetPythonRegistry(sampler_.get());
  pipeline_->SetUnwindMaps(sampler_->unwind_maps());
  spdlog::info("eBPF sampling started: {} Hz on every CPU, one profile per service every {} s",
               config_.ebpf.sample_rate,
               duration_cast<milliseconds>(config_.ebpf.upload_interval).count() / 1000.0);
  return Status::Ok();
}

Status Agent::Run(const std::atomic<bool>& stop) {
  std::optional<std::chrono::steady_clock::time_point> stop_seen;
  const auto stop_requested = [&] {
    if (!stop.load(std::memory_order_relaxed)) return false;
    if (!stop_seen) stop_seen = std::chrono::steady_clock::now();
    return true;
  };
  int64_t next_counter_log = MonotonicNanos() + kCounterLogIntervalNs;
  const auto tick = [&] {
    if (const int64_t now = MonotonicNanos(); now >= next_counter_log) {
      LogCounters();
      next_counter_log = now + kCounterLogIntervalNs;
    }
  };
  if (pipeline_) {
    PROFKIT_RETURN_IF_ERROR(RunSampling(stop_requested, tick));
  } else {
    while (!stop_requested()) {
      std::this_thread::sleep_for(kPollTimeout);
      tick();
    }
  }

  // No upload is accepted after this, and every accepted one is already queued.
  if (go_pull_) go_pull_->Stop();
  server_.reset();
  pyroscope_servers_.clear();
  const auto deadline = stop_seen.value_or(std::chrono::steady_clock::now()) + kShutdownFlushBudget;
  if (dataway_) dataway_->Flush(deadline);
  // RunSampling logged them already, with the loop's.
  if (!pipeline_) LogCounters();
  return Status::Ok();
}

Status Agent::RunSampling(const std::function<bool()>& stop, const std::function<void()>& tick) {
  pipeline::SamplingLoop loop(
      *sampler_, *pipeline_,
      pipeline::SamplingLoopOptions{.sample_rate_hz = config_.ebpf.sample_rate,
                                    .poll_timeout = kPollTimeout,
                                    .flush_interval = config_.ebpf.upload_interval},
      [this](const pipeline::FlushBatch& batch) { DeliverBatch(batch); });
  loop_ = &loop;
  bool stopping_logged = false;
  const Status status = loop.Run(
      [&] {
        if (!stop()) return false;
        if (!stopping_logged) spdlog::info("stopping: flushing the current interval");
        stopping_logged = true;
        return true;
      },
      tick);
  LogCounters();
  loop_ = nullptr;
  return status;
}

void Agent::DeliverBatch(const pipeline::FlushBatch& batch) {
  const int64_t flush_start = MonotonicNanos();
  std::vector<pipeline::ServiceProfile> profiles = pipeline_->BuildPprof(batch);
  spdlog::debug("built {} profiles in {} ms", profiles.size(),
                (MonotonicNanos() - flush_start) / 1'000'000);
  for (pipeline::ServiceProfile& profile : profiles) {
    forward::ProfileUpload upload{.service = profile.key.service,
                                  .env = profile.key.env,
                                  .version = profile.key.version,
                                  .host = hostname_,
                                  .language = profile.key.language,
                                  .extra_tags = ProfileTags(profile.key, config_.ebpf.sample_rate),
                                  .start_unix_nanos = batch.timing.start_unix_ns,
                                  .end_unix_nanos = batch.timing.end_unix_ns,
                                  .attachments = {forward::Attachment{
                                      .name = "cpu.pprof", .data = std::move(profile.pprof_gzip)}}};
    spdlog::debug("profile of service '{}': {} samples", upload.service, profile.samples);
    (void)door_->Deliver(Origin::kEbpf, upload);
  }
  // Building profiles allocates in bursts; hand the freed pages back instead of keeping the peak.
  malloc_trim(0);
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
    spdlog::info("dataway counters: sent={} failed_attempts={} dropped_permanent={} pending={} "
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
      s.samples, s.ringbuf_drops, s.stack_errors, s.decode_errors, s.process_events,
      p.orphan_samples, p.truncated_stacks, p.aggregation_drops, p.profiles_built, p.profile_errors,
      t.processes, t.proc_read_failures, t.unmapped_frames, t.collected);
  if (loop_ != nullptr) {
    const pipeline::SamplingLoopCounters l = loop_->counters();
    spdlog::info("flush counters: flushes={} merged_intervals={} last_flush_ms={}", l.flushes,
                 l.merged_intervals, l.last_flush_ms);
  }
  const pipeline::PythonCounters py = pipeline_->python_counters();
  spdlog::info(
      "python counters: processes={} detected={} unsupported={} registration_failures={} "
      "samples={} walk_failures={} stacks={} truncated={} code_reads={} code_read_failures={} "
      "checksum_mismatches={} functions={} function_table_full={}",
      py.processes, py.detected, py.unsupported, py.registration_failures, s.python_samples,
      s.python_walk_failures, p.python_stacks, p.python_truncated_stacks, py.code_reads,
      py.code_read_failures, py.checksum_mismatches, py.functions, py.function_table_full);
  if (const auto u = pipeline_->unwind_counters()) {
    spdlog::info(
        "native unwinding counters: samples={} walk_ns={} truncated={} fp_frames={} processes={} "
        "files={} "
        "rows_used={} row_capacity={} tables_built={} files_without_cfi={} build_failures={} "
        "capacity_exceeded={} evicted={} dropped_requests={} build_ms={:.1f}",
        s.unwind_samples, s.unwind_ns, s.unwind_truncated, s.unwind_fp_frames, u->processes,
        u->files, u->rows_used, u->row_capacity, u->tables_built, u->files_without_cfi,
        u->build_failures, u->capacity_exceeded, u->evicted, u->dropped_requests,
        u->build_ns / 1e6);
  }
}

}  // namespace profkit::agent
