#include "profkit/pipeline/sample_pipeline.h"

#include <type_traits>
#include <unordered_map>

#include "profkit/common/log.h"
#include "profkit/pipeline/service_key.h"
#include "profkit/profile/collapsed_writer.h"
#include "profkit/unwind/packed_unwind_table.h"

namespace profkit::pipeline {
namespace {

std::unique_ptr<symbolize::KernelSymbolizer> LoadKernelSymbols(const std::string& path) {
  Result<symbolize::KernelSymbolizer> kernel = symbolize::KernelSymbolizer::Load(path);
  if (!kernel.ok()) {
    spdlog::warn("kernel frames will not be named: {}", kernel.status().message());
    return nullptr;
  }
  return std::make_unique<symbolize::KernelSymbolizer>(std::move(kernel).value());
}

}  // namespace

SamplePipeline::SamplePipeline(PipelineOptions options)
    : options_(std::move(options)),
      proc_fs_(options_.proc_root),
      native_symbolizer_(options_.symbol_limits, options_.symbols),
      aggregator_(options_.max_distinct_stacks) {
  ProcessTableOptions table_options = options_.process_table;
  table_options.default_env = options_.default_env;
  process_table_ = std::make_unique<ProcessTable>(proc_fs_, native_symbolizer_, table_options);
  python_ = std::make_unique<PythonProcesses>(native_symbolizer_, proc_fs_, options_.default_env,
                                              options_.process_memory,
                                              options_.python_read_bytes_per_second);
  process_table_->SetObserver(python_.get());
  frame_symbolizer_ = std::make_unique<FrameSymbolizer>(
      native_symbolizer_, LoadKernelSymbols(options_.kallsyms_path), &python_->functions());
  frame_symbolizer_->SetDebugDelay(options_.debug_symbolize_delay);
}

SamplePipeline::~SamplePipeline() {
  process_table_->SetObserver(nullptr);
  unwinding_.reset();
}

void SamplePipeline::SetPythonRegistry(sampling::PythonProcessRegistry* registry) {
  python_->SetRegistry(registry);
}

void SamplePipeline::SetUnwindMaps(unwind::UnwindMaps* maps) {
  process_table_->SetObserver(python_.get());
  unwinding_.reset();
  if (maps == nullptr) return;
  unwinding_ = std::make_unique<NativeUnwinding>(proc_fs_, *maps, python_.get(),
                                                 options_.symbol_limits.max_section_bytes);
  process_table_->SetObserver(unwinding_.get());
}

std::optional<unwind::UnwindStoreCounters> SamplePipeline::unwind_counters() const {
  if (!unwinding_) return std::nullopt;
  return unwinding_->counters();
}

void SamplePipeline::SetSampleFilter(std::function<bool(uint32_t pid)> filter) {
  filter_ = std::move(filter);
}

void SamplePipeline::Handle(const sampling::Record& record) {
  std::visit(
      [this](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, sampling::SampleRecord>) {
          HandleSample(r);
        } else if constexpr (std::is_same_v<T, sampling::OffCpuEndRecord>) {
          HandleOffCpuEnd(r);
        } else {
          HandleProcessEvent(r);
        }
      },
      record);
}

void SamplePipeline::HandleProcessEvent(const sampling::ProcessEventRecord& event) {
  switch (event.kind) {
    case sampling::ProcessEventRecord::Kind::kExec:
      process_table_->OnExec(event.pid, event.ppid, event.comm);
      break;
    case sampling::ProcessEventRecord::Kind::kFork:
      process_table_->OnFork(event.pid, event.ppid, event.comm);
      break;
    case sampling::ProcessEventRecord::Kind::kExit:
      process_table_->OnExit(event.pid);
      // Its threads will not run again: their waits never end.
      std::erase_if(pending_waits_,
                    [&](const auto& entry) { return entry.second.pid == event.pid; });
      break;
  }
}

void SamplePipeline::HandleOffCpuEnd(const sampling::OffCpuEndRecord& end) {
  auto it = pending_waits_.find(end.tid);
  // No switch-out record: filtered out, or lost (ring buffer full); or a later switch-out of the
  // thread replaced it, which cannot happen before this end in one ring buffer.
  if (it == pending_waits_.end() || it->second.switch_out_ktime_ns != end.switch_out_ktime_ns) {
    return;
  }
  aggregator_.AddOffCpu(it->second.key, it->second.stack, static_cast<int64_t>(end.off_cpu_ns),
                        end.off_cpu_events);
  ++counters_.off_cpu_waits;
  pending_waits_.erase(it);
}

void SamplePipeline::HandleSample(const sampling::SampleRecord& sample) {
  ++counters_.samples;
  if (filter_ && !filter_(sample.pid)) {
    ++counters_.filtered_samples;
    return;
  }
  ProcessTable::Process* process = process_table_->Get(sample.pid);
  if (process == nullptr) {
    ++counters_.orphan_samples;
    return;
  }
  scratch_.pid = sample.pid;
  scratch_.tid = sample.tid;
  scratch_.thread_name = sample.comm;
  scratch_.truncated = sample.user_stack_truncated;
  scratch_.frames.clear();
  for (uint64_t ip : sample.kernel_ips) {
    scratch_.frames.push_back(profile::Frame{.kind = profile::FrameKind::kKernel,
                                             .is_return_address = !scratch_.frames.empty(),
                                             .address = ip});
  }
  native_user_.clear();
  for (size_t i = 0; i < sample.user_ips.size(); ++i) {
    // The innermost user frame is the interrupted instruction only when no kernel frames precede
    // it; after a syscall it is a return address too.
    native_user_.push_back(process_table_->ResolveUserFrame(
        *process, sample.user_ips[i], !scratch_.frames.empty() || i > 0,
        i == 0                      ? ProcessTable::IpSource::kRegisters
        : sample.user_stack_unwound ? ProcessTable::IpSource::kUnwound
                                    : ProcessTable::IpSource::kStackWalk));
    if (i == 0) InsertCallerOfFramelessLeaf(*process, sample, native_user_);
  }
  // After the frames are resolved: the tables built are those of the mappings they fell in.
  if (unwinding_) {
    unwinding_->OnSample(*process);
    CloseCfiOfModulesWithTables();
  }
  PythonProcesses::State* python =
      sample.python_frames.empty() ? nullptr : python_->Find(sample.pid);
  if (python != nullptr) {
    AppendPythonStack(*python, sample);
  } else {
    scratch_.frames.insert(scratch_.frames.end(), native_user_.begin(), native_user_.end());
  }
  if (scratch_.truncated) ++counters_.truncated_stacks;
  if (options_.fixed_service) {
    Aggregate(*options_.fixed_service, sample);
    return;
  }
  // The key is computed once per process, and again when its identity or the pod list changed.
  const uint64_t generation = metadata_ != nullptr ? metadata_->generation() : 0;
  if (process->key_stale || process->key_generation != generation) {
    std::shared_ptr<const process::ContainerMetadata> pod;
    if (metadata_ != nullptr && process->container) pod = metadata_->Find(process->container->id);
    process->key = ServiceKeyOf(*process, pod.get());
    process->key_stale = false;
    process->key_generation = generation;
  }
  Aggregate(process->key, sample);
}

void SamplePipeline::Aggregate(const profile::ServiceKey& key,
                               const sampling::SampleRecord& sample) {
  if (!sample.off_cpu) {
    aggregator_.Add(key, scratch_);
    return;
  }
  // The stacks of a thread leaving the CPU wait here for the end of its wait (HandleOffCpuEnd);
  // a newer switch-out of the thread replaces them (the wait was shorter than the minimum).
  auto it = pending_waits_.find(sample.tid);
  if (it == pending_waits_.end()) {
    if (pending_waits_.size() >= kMaxPendingWaits) {
      ++counters_.off_cpu_pending_drops;
      return;
    }
    it = pending_waits_.try_emplace(sample.tid).first;
  }
  it->second = PendingWait{
      .pid = sample.pid, .switch_out_ktime_ns = sample.ktime_ns, .key = key, .stack = scratch_};
}

void SamplePipeline::AppendPythonStack(PythonProcesses::State& state,
                                       const sampling::SampleRecord& sample) {
  roles_.clear();
  for (const profile::Frame& frame : native_user_) roles_.push_back(python_->RoleOf(state, frame));
  python_frames_.clear();
  for (const sampling::PythonFrameRecord& record : sample.python_frames) {
    python_frames_.push_back(
        PythonStackFrame{.frame = python_->Resolve(state, record), .entry = record.entry});
  }
  MergePythonStack(native_user_, roles_, python_frames_, scratch_.frames);
  // The Python frames end the stack: only their own truncation matters, not the native walk's.
  scratch_.truncated = sample.python_stack_truncated;
  ++counters_.python_stacks;
  if (sample.python_stack_truncated) ++counters_.python_truncated_stacks;
}

void SamplePipeline::InsertCallerOfFramelessLeaf(ProcessTable::Process& process,
                                                 const sampling::SampleRecord& sample,
                                                 std::vector<profile::Frame>& frames) {
  const profile::Frame& leaf = frames.back();
  if (sample.user_stack_top.empty() || leaf.module_id == profile::kUnknownModule) return;
  const std::optional<uint64_t> offset = LeafReturnAddressOffset(leaf);
  if (!offset || *offset % sizeof(uint64_t) != 0 ||
      *offset / sizeof(uint64_t) >= sample.user_stack_top.size()) {
    return;
  }
  const uint64_t return_address = sample.user_stack_top[*offset / sizeof(uint64_t)];
  // The frame-pointer walk already has this caller when the leaf did set up a frame after all.
  if (sample.user_ips.size() > 1 && sample.user_ips[1] == return_address) return;
  const profile::Frame caller = process_table_->ResolveUserFrame(
      process, return_address, true, ProcessTable::IpSource::kStackWalk);
  // Only a word that points into mapped code is a return address; anything else was data.
  if (caller.module_id == profile::kUnknownModule) return;
  frames.push_back(caller);
  ++counters_.recovered_leaf_callers;
}

std::optional<uint64_t> SamplePipeline::LeafReturnAddressOffset(const profile::Frame& leaf) {
  // The samples that carry a stack top are those of processes not (yet) unwound with tables and
  // of leaves in mappings without a table. For the first kind, the leaf's file has a table as
  // soon as any process's samples reached it: read back from the BPF maps, it answers as the
  // walker will, and the CFI (a compiler's whole .eh_frame, held in the heap) is read only until
  // then. Tables are found by build id.
  if (unwinding_) {
    const symbolize::ModuleInfo* module = native_symbolizer_.Module(leaf.module_id);
    const std::optional<uint64_t> address =
        module != nullptr && !module->build_id.empty()
            ? native_symbolizer_.AddressOfFileOffset(leaf.module_id, leaf.address)
            : std::nullopt;
    if (address) {
      if (const std::optional<profkit_unwind_info> rule =
              unwinding_->store().LoadedRule(module->build_id, *address)) {
        ++counters_.leaf_rules_from_tables;
        return unwind::ReturnAddressOffsetFromSp(*rule, *address);
      }
      // Its table is usually requested by this very sample (NativeUnwinding::OnSample).
      cfi_modules_.try_emplace(leaf.module_id, module->build_id);
    }
  }
  return native_symbolizer_.ReturnAddressOffsetFromSp(leaf.module_id, leaf.address);
}

void SamplePipeline::CloseCfiOfModulesWithTables() {
  const uint64_t generation = unwinding_->store().loaded_generation();
  if (cfi_modules_.empty() || generation == cfi_checked_generation_) return;
  cfi_checked_generation_ = generation;
  std::erase_if(cfi_modules_, [&](const auto& module) {
    // A released module's CFI went with it.
    if (native_symbolizer_.Module(module.first) == nullptr) return true;
    if (!unwinding_->store().HasLoadedTable(module.second)) return false;
    native_symbolizer_.CloseCfi(module.first);
    return true;
  });
}

FlushBatch SamplePipeline::EndInterval(const IntervalTiming& timing) {
  counters_.aggregation_drops += aggregator_.dropped_samples();
  FlushBatch batch{
      .interval = process_table_->EndInterval(), .timing = timing, .stacks = aggregator_.Drain()};
  if (batch.stacks.empty() && options_.fixed_service) {
    batch.stacks.push_back({.key = *options_.fixed_service});
  }
  for (const profile::Aggregator::ServiceStacks& service : batch.stacks) {
    batch.main_executables.push_back(MostSampledExecutable(service));
  }
  return batch;
}

std::string SamplePipeline::MostSampledExecutable(
    const profile::Aggregator::ServiceStacks& service) {
  std::unordered_map<uint32_t, int64_t> samples_of;
  for (const auto& [sample, values] : service.stacks) {
    samples_of[sample.pid] += values.samples + values.off_cpu_events;
  }
  uint32_t top_pid = 0;
  int64_t top = 0;
  for (const auto& [pid, samples] : samples_of) {
    if (samples > top || (samples == top && pid < top_pid)) {
      top_pid = pid;
      top = samples;
    }
  }
  if (top_pid == 0) return "";
  const ProcessTable::Process* process = process_table_->Get(top_pid);
  return process == nullptr ? "" : process->executable_path;
}

void SamplePipeline::CollectFlushed(uint64_t interval) { process_table_->CollectExited(interval); }

std::vector<ServiceProfile> SamplePipeline::BuildPprof(const FlushBatch& batch) {
  std::vector<ServiceProfile> profiles;
  for (size_t i = 0; i < batch.stacks.size(); ++i) {
    const profile::Aggregator::ServiceStacks& stacks = batch.stacks[i];
    Result<std::string> pprof = BuildServicePprof(
        stacks, *frame_symbolizer_, batch.timing,
        i < batch.main_executables.size() ? batch.main_executables[i] : "", options_.off_cpu);
    if (!pprof.ok()) {
      profile_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("building the profile of service '{}': {}", stacks.key.service,
                    pprof.status().message());
      continue;
    }
    profiles_built_.fetch_add(1, std::memory_order_relaxed);
    profiles.push_back(ServiceProfile{
        .key = stacks.key, .pprof_gzip = std::move(pprof).value(), .samples = stacks.total});
  }
  native_symbolizer_.TrimDwarf();
  return profiles;
}

profile::StackProfile SamplePipeline::BuildStackProfile(const FlushBatch& batch,
                                                        StackValueType value) {
  profile::StackProfile stacks =
      pipeline::BuildStackProfile(batch.stacks, *frame_symbolizer_, batch.timing, value);
  native_symbolizer_.TrimDwarf();
  return stacks;
}

std::string SamplePipeline::BuildCollapsed(const FlushBatch& batch, StackValueType value) {
  return profile::CollapsedText(BuildStackProfile(batch, value));
}

PipelineCounters SamplePipeline::counters() const {
  PipelineCounters counters = counters_;
  counters.profiles_built = profiles_built_.load(std::memory_order_relaxed);
  counters.profile_errors = profile_errors_.load(std::memory_order_relaxed);
  return counters;
}

}  // namespace profkit::pipeline
