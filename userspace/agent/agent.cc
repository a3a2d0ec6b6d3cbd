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
#include "profkit/agent/prometheus_text.h"
#include "profkit/kubernetes/kubelet_client.h"

namespace profkit::agent {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// The ring buffer is polled at least this often so a stop request or a due flush is never late.
constexpr milliseconds kPollTimeout{100};
constexpr int64_t kCounterLogIntervalNs = 60'000'000'000;
// How fresh the reader-owned counters on /metrics are.
constexpr int64_t kCounterSnapshotIntervalNs = 1'000'000'000;
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
  // Container and pod tags (pipeline/service_key.h).
  tags.insert(tags.end(), key.tags.begin(), key.tags.end());
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

symbolize::DebugInfoOptions SymbolOptions(const config::SymbolsConfig& symbols) {
  symbolize::DebugInfoOptions options;
  options.debug_dirs = symbols.debug_dirs;
  options.debuginfod_urls = symbols.debuginfod_urls;
  options.cache_dir = symbols.cache_dir;
  options.debuginfod_timeout = symbols.debuginfod_timeout;
  options.cache_max_bytes = static_cast<uint64_t>(symbols.cache_max_mb) << 20;
  return options;
}

symbolize::NativeSymbolizerLimits SymbolLimits(const config::SymbolsConfig& symbols) {
  symbolize::NativeSymbolizerLimits limits;
  limits.max_section_bytes = static_cast<uint64_t>(symbols.max_section_mb) << 20;
  limits.max_dwarf_units = static_cast<size_t>(symbols.max_dwarf_units);
  limits.max_dwarf_memory_bytes = static_cast<size_t>(symbols.max_dwarf_memory_mb) << 20;
  return limits;
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
  // In a pod the machine's hostname is the pod's: the host tag is the node's name (as DataKit's).
  const bool node_host = config.agent.hostname.empty() && config.kubernetes.enabled &&
                         !config.kubernetes.node_name.empty();
  PROFKIT_ASSIGN_OR_RETURN(agent->hostname_, ResolveHostname(node_host ? config.kubernetes.node_name
                                                                       : config.agent.hostname));
  PROFKIT_RETURN_IF_ERROR(agent->StartSinks());
  agent->OpenDoor();
  agent->StartKubernetes();
  PROFKIT_RETURN_IF_ERROR(agent->StartPushEndpoint());
  PROFKIT_RETURN_IF_ERROR(agent->StartPyroscope());
  PROFKIT_RETURN_IF_ERROR(agent->StartGoPull());
  PROFKIT_RETURN_IF_ERROR(agent->StartEbpf(sources));
  // Loading (kernel BTF for CO-RE relocations, kallsyms) peaks far above the steady state.
  malloc_trim(0);
  agent->started_.store(true, std::memory_order_release);
  agent->ready_.store(true);
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

void Agent::StartKubernetes() {
  const config::KubernetesConfig& k8s = config_.kubernetes;
  if (!k8s.enabled) return;
  const kubernetes::KubeletOptions kubelet{.url = k8s.kubelet_url,
                                           .token_file = k8s.token_file,
                                           .ca_file = k8s.ca_file,
                                           .insecure_skip_verify = k8s.insecure_skip_verify};
  pod_cache_ = std::make_unique<kubernetes::PodCache>(
      kubernetes::PodCacheOptions{
          .node = {.node_name = k8s.node_name, .cluster_name = k8s.cluster_name},
          .refresh_interval = k8s.refresh_interval},
      [kubelet](const std::atomic<bool>& cancel) {
        return kubernetes::FetchPodList(kubelet, &cancel);
      });
  spdlog::info("kubernetes: pods from the kubelet at {} every {} s (cluster {}, node {})",
               UrlWithoutSecrets(k8s.kubelet_url),
               duration_cast<milliseconds>(k8s.refresh_interval).count() / 1000.0, k8s.cluster_name,
               k8s.node_name.empty() ? "from each pod" : k8s.node_name);
}

namespace {

// The pod tags for an upload from `address`: DataKit's pod tags, and the pod's naming as
// service/env/version (which, like the tags, fill only what the client left out).
ingest::Tags SenderPodTags(const kubernetes::PodCache& pods, std::string_view address) {
  // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d.
  if (address.starts_with("::ffff:")) address.remove_prefix(7);
  std::shared_ptr<const process::ContainerMetadata> pod = pods.FindPodByIp(address);
  if (!pod) return {};
  ingest::Tags tags = pod->tags;
  tags.emplace_back("service", pod->service);
  if (!pod->env.empty()) tags.emplace_back("env", pod->env);
  if (!pod->version.empty()) tags.emplace_back("version", pod->version);
  return tags;
}

ingest::IngestResponse PlainAnswer(bool ok, std::string_view good, std::string_view bad) {
  return ingest::IngestResponse{.status = ok ? 200 : 503,
                                .body = std::string(ok ? good : bad) + "\n"};
}

}  // namespace

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
                            .rewrite = {.host = hostname_, .tags = config_.profile.tags},
                            .sender_tags = SenderTagsLookup(),
                            .plain_routes = PlainRoutes()},
      [door = door_.get()](const ingest::RewrittenUpload& upload) {
        return door->Deliver(upload);
      });
  if (!server.ok()) return server.status().WithContext("[http] listen");
  server_ = std::move(server).value();
  push_server_.store(server_.get());
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
  pipeline_ = std::make_unique<pipeline::SamplePipeline>(pipeline::PipelineOptions{
      .sample_rate_hz = config_.ebpf.sample_rate,
      .default_env = config_.ebpf.env,
      .proc_root = config_.agent.host_proc,
      .symbols = SymbolOptions(config_.symbols),
      .symbol_limits = SymbolLimits(config_.symbols),
      .python_read_bytes_per_second = static_cast<uint64_t>(config_.ebpf.python_read_kb_per_second)
                                      << 10,
      .off_cpu = config_.ebpf.off_cpu,
      .debug_symbolize_delay = DebugSymbolizeDelay()});
  Result<std::unique_ptr<sampling::SampleSource>> sampler = sources(sampling::SamplerOptions{
      .sample_rate_hz = config_.ebpf.sample_rate,
      .kernel_stacks = config_.ebpf.kernel_stacks,
      .unwind_table_bytes = config_.ebpf.native_unwinding
                                ? static_cast<size_t>(config_.ebpf.unwind_table_max_mb) << 20
                                : 0,
      .off_cpu = {
          .enabled = config_.ebpf.off_cpu,
          .min_duration_ns = static_cast<uint64_t>(config_.ebpf.off_cpu_min_duration.count()),
          .sample_every = static_cast<uint32_t>(config_.ebpf.off_cpu_sample_every),
          .kernel_threads = config_.ebpf.off_cpu_kernel_threads}});
  if (!sampler.ok()) return sampler.status().WithContext("starting eBPF sampling");
  sampler_ = std::move(sampler).value();
  pipeline_->SetPythonRegistry(sampler_.get());
  pipeline_->SetContainerMetadata(pod_cache_.get());
  ebpf_attached_.store(true);
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
    ready_.store(false);
    return true;
  };
  int64_t next_counter_log = MonotonicNanos() + kCounterLogIntervalNs;
  int64_t next_snapshot = 0;
  const auto tick = [&] {
    const int64_t now = MonotonicNanos();
    if (now >= next_counter_log) {
      LogCounters();
      next_counter_log = now + kCounterLogIntervalNs;
    }
    if (now >= next_snapshot) {
      SnapshotReaderCounters();
      next_snapshot = now + kCounterSnapshotIntervalNs;
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
  if (pod_cache_) {
    const kubernetes::PodCacheCounters c = pod_cache_->counters();
    spdlog::info("kubernetes counters: refreshes={} refresh_failures={} miss_refreshes={} pods={} "
                 "containers={}",
                 c.refreshes, c.refresh_failures, c.miss_refreshes, c.pods, c.containers);
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
  const symbolize::NativeSymbolizer::Counters n = pipeline_->native_counters();
  spdlog::info(
      "symbol counters: modules={} dwarf_reuses={} build_id_files={} debuglink_files={} "
      "mini_debug_info={} debuginfod_files={} debuginfod_hits={} debuginfod_misses={} "
      "debuginfod_errors={} debuginfod_bytes={} debuginfod_evictions={} debuginfod_queued={} "
      "oversized_sections={} dwarf_unit_limit_hits={} dwarf_bytes={} dwarf_closes={} "
      "dwarf_budget_skips={}",
      n.modules, n.dwarf_reuses, n.debug_build_id_files, n.debug_link_files, n.mini_debug_info,
      n.debuginfod_files, n.debuginfod.hits, n.debuginfod.misses, n.debuginfod.errors,
      n.debuginfod.bytes, n.debuginfod.evictions, n.debuginfod.queued, n.oversized_sections,
      n.dwarf_unit_limit_hits, n.dwarf_bytes, n.dwarf_closes, n.dwarf_budget_skips);
  const pipeline::PythonCounters py = pipeline_->python_counters();
  spdlog::info(
      "python counters: processes={} detected={} unsupported={} registration_failures={} "
      "samples={} walk_failures={} stacks={} truncated={} code_reads={} code_read_failures={} "
      "checksum_mismatches={} functions={} function_table_full={} memory_bytes_read={} "
      "memory_budget_refusals={}",
      py.processes, py.detected, py.unsupported, py.registration_failures, s.python_samples,
      s.python_walk_failures, p.python_stacks, p.python_truncated_stacks, py.code_reads,
      py.code_read_failures, py.checksum_mismatches, py.functions, py.function_table_full,
      py.memory_bytes_read, py.memory_budget_refusals);
  if (config_.ebpf.off_cpu) {
    spdlog::info("off-CPU counters: switches={} sampled={} short={} dropped={} records={}",
                 s.off_cpu_switches, s.off_cpu_sampled, s.off_cpu_short, s.off_cpu_dropped,
                 s.off_cpu_records);
  }
  if (const auto u = pipeline_->unwind_counters()) {
    spdlog::info(
        "native unwinding counters: samples={} walk_ns={} truncated={} fp_frames={} processes={} "
        "files={} unused_files={} rows_used={} row_capacity={} pages_used={} page_capacity={} "
        "rules={} "
        "tables_built={} shared_by_build_id={} files_without_cfi={} build_failures={} "
        "capacity_exceeded={} evicted={} dropped_requests={} build_ms={:.1f} "
        "leaf_callers={} leaf_rules_from_tables={} leaf_rules_from_cfi={}",
        s.unwind_samples, s.unwind_ns, s.unwind_truncated, s.unwind_fp_frames, u->processes,
        u->files, u->unused_files, u->rows_used, u->row_capacity, u->pages_used, u->page_capacity,
        u->rules, u->tables_built, u->shared_by_build_id, u->files_without_cfi, u->build_failures,
        u->capacity_exceeded, u->evicted, u->dropped_requests, u->build_ns / 1e6,
        p.recovered_leaf_callers, p.leaf_rules_from_tables, n.cfi_lookups);
  }
}

}  // namespace profkit::agent

namespace profkit::agent {

std::function<ingest::Tags(const std::string&)> Agent::SenderTagsLookup() const {
  if (!pod_cache_) return nullptr;
  return [pods = pod_cache_.get()](const std::string& address) {
    return SenderPodTags(*pods, address);
  };
}

std::vector<ingest::ServerOptions::PlainRoute> Agent::PlainRoutes() const {
  return {
      // Alive: the process answers and, with eBPF on, its programs are attached.
      {"/healthz",
       [this] {
         return PlainAnswer(!config_.ebpf.enabled || ebpf_attached_.load(), "ok", "starting");
       }},
      // Ready: started (sampling and the queue running) and not stopping.
      {"/ready", [this] { return PlainAnswer(ready_.load(), "ready", "not ready"); }},
      {"/metrics",
       [this] {
         return ingest::IngestResponse{.status = 200,
                                       .body = PrometheusText(MetricFamilies()),
                                       .content_type = "text/plain; version=0.0.4"};
       }},
  };
}

void Agent::SnapshotReaderCounters() {
  if (!pipeline_ || !sampler_) return;
  ReaderCounters counters{.sampler = sampler_->counters(),
                          .pipeline = pipeline_->counters(),
                          .processes = pipeline_->process_counters(),
                          .python = pipeline_->python_counters()};
  std::lock_guard lock(reader_counters_mutex_);
  reader_counters_ = counters;
}

std::vector<MetricFamily> Agent::MetricFamilies() const {
  std::vector<MetricFamily> families;
  const auto add = [&](std::string name, MetricType type, std::string help, uint64_t value) {
    families.push_back(MetricFamily{.name = std::move(name),
                                    .type = type,
                                    .help = std::move(help),
                                    .samples = {{.value = value}}});
  };
  const MetricType counter = MetricType::kCounter, gauge = MetricType::kGauge;
  add("profkit_up", gauge, "1 while the agent is ready (the same as /ready)", ready_.load());
  std::optional<ReaderCounters> reader;
  {
    std::lock_guard lock(reader_counters_mutex_);
    reader = reader_counters_;
  }
  if (reader) {
    const auto& s = reader->sampler;
    const auto& p = reader->pipeline;
    add("profkit_samples_total", counter, "eBPF samples decoded", s.samples);
    add("profkit_ringbuf_drops_total", counter, "records lost because the ring buffer was full",
        s.ringbuf_drops);
    add("profkit_stack_errors_total", counter, "bpf_get_stack failures", s.stack_errors);
    add("profkit_decode_errors_total", counter, "ring buffer records that did not decode",
        s.decode_errors);
    add("profkit_process_events_total", counter, "exec, fork and exit events", s.process_events);
    add("profkit_orphan_samples_total", counter, "samples of processes gone before identified",
        p.orphan_samples);
    add("profkit_truncated_stacks_total", counter, "stacks deeper than the unwinder goes",
        p.truncated_stacks);
    add("profkit_aggregation_drops_total", counter, "samples dropped at the distinct-stack limit",
        p.aggregation_drops);
    add("profkit_profiles_built_total", counter, "eBPF profiles built", p.profiles_built);
    add("profkit_profile_errors_total", counter, "eBPF profiles that failed to build",
        p.profile_errors);
    add("profkit_processes", gauge, "processes tracked", reader->processes.processes);
    add("profkit_proc_read_failures_total", counter, "/proc reads that failed",
        reader->processes.proc_read_failures);
    add("profkit_python_samples_total", counter, "samples of CPython processes", s.python_samples);
    add("profkit_python_walk_failures_total", counter, "CPython samples without a Python frame",
        s.python_walk_failures);
    add("profkit_python_stacks_total", counter, "samples with Python frames", p.python_stacks);
    add("profkit_python_processes", gauge, "CPython processes tracked", reader->python.processes);
    add("profkit_off_cpu_switches_total", counter,
        "context switches away from profiled threads (off_cpu)", s.off_cpu_switches);
    add("profkit_off_cpu_sampled_total", counter, "of those, the 1 in off_cpu_sample_every timed",
        s.off_cpu_sampled);
    add("profkit_off_cpu_short_total", counter, "walked waits below off_cpu_min_duration",
        s.off_cpu_short);
    add("profkit_off_cpu_dropped_total", counter,
        "sampled waits lost (task storage or ring buffer full)", s.off_cpu_dropped);
    add("profkit_off_cpu_records_total", counter,
        "off-CPU stacks decoded (sampled switches walked)", s.off_cpu_records);
  }
  if (dataway_) {
    const forward::DatawaySink::Counters c = dataway_->counters();
    add("profkit_dataway_uploads_total", counter, "requests Dataway accepted", c.sent);
    add("profkit_dataway_retries_total", counter, "failed attempts (each retried or released)",
        c.failed_attempts);
    add("profkit_dataway_dropped_total", counter, "requests Dataway refused for good",
        c.dropped_permanent);
    add("profkit_queue_bytes", gauge, "size of the disk queue's segment files", c.queue.disk_bytes);
    add("profkit_queue_pending_records", gauge, "queued requests not yet delivered",
        c.queue.pending_records);
    add("profkit_queue_evicted_records_total", counter, "queued requests lost to the capacity",
        c.queue.evicted_records);
  }
  // Not server_: /metrics runs on the push server's own pool, while Run may be resetting server_
  // (the server outlives every handler it runs).
  if (const ingest::Server* server = push_server_.load()) {
    const ingest::ServerCounters c = server->counters();
    families.push_back(
        MetricFamily{.name = "profkit_push_uploads_total",
                     .type = counter,
                     .help = "pushed uploads by answer status class",
                     .samples = {{.labels = {{"status", "2xx"}}, .value = c.accepted},
                                 {.labels = {{"status", "4xx"}}, .value = c.rejected},
                                 {.labels = {{"status", "5xx"}}, .value = c.queue_errors}}});
    add("profkit_tracer_requests_total", counter, "tracer requests other than uploads",
        c.tracer_requests);
  }
  // The Pyroscope listeners and Go pull are set up after the push server starts: read them only
  // once Start is over (they do not change again while this server runs).
  const bool started = started_.load(std::memory_order_acquire);
  if (started && !pyroscope_servers_.empty()) {
    MetricFamily family{.name = "profkit_pyroscope_uploads_total",
                        .type = counter,
                        .help = "Pyroscope uploads by listener port and answer status class"};
    for (const auto& server : pyroscope_servers_) {
      const pyroscope::ServerCounters c = server->counters();
      const std::string port = std::to_string(server->port());
      family.samples.push_back(
          {.labels = {{"port", port}, {"status", "2xx"}}, .value = c.accepted});
      family.samples.push_back(
          {.labels = {{"port", port}, {"status", "4xx"}}, .value = c.rejected});
      family.samples.push_back(
          {.labels = {{"port", port}, {"status", "5xx"}}, .value = c.queue_errors});
    }
    families.push_back(std::move(family));
  }
  if (started && go_pull_) {
    const GoPullRunner::Totals t = go_pull_->totals();
    families.push_back(
        MetricFamily{.name = "profkit_go_pull_rounds_total",
                     .type = counter,
                     .help = "Go pull rounds by result",
                     .samples = {{.labels = {{"result", "ok"}}, .value = t.rounds_ok},
                                 {.labels = {{"result", "failed"}}, .value = t.rounds_failed}}});
  }
  if (pod_cache_) {
    const kubernetes::PodCacheCounters c = pod_cache_->counters();
    families.push_back(
        MetricFamily{.name = "profkit_kubelet_refreshes_total",
                     .type = counter,
                     .help = "kubelet pod list refreshes by result (failures keep the last list)",
                     .samples = {{.labels = {{"result", "ok"}}, .value = c.refreshes},
                                 {.labels = {{"result", "failed"}}, .value = c.refresh_failures}}});
    add("profkit_kubernetes_pods", gauge, "pods in the last pod list", c.pods);
    add("profkit_kubernetes_containers", gauge, "containers in the last pod list", c.containers);
  }
  return families;
}

}  // namespace profkit::agent
