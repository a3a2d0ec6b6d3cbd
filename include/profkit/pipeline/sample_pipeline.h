// The road from decoded BPF records to per-service profiles, shared by the daemon (`run`) and the
// one-shot `record`: process events keep the ProcessTable fresh, samples become
// lifetime-independent stacks aggregated per service, and a flush symbolizes each distinct frame
// once.
//
// Two threads use it (SamplingLoop, sampling_loop.h): the reader calls Handle, EndInterval and
// CollectFlushed; the flush worker calls BuildPprof / BuildCollapsed on the batch EndInterval
// handed out, while the reader goes on handling records. They share only the thread-safe
// NativeSymbolizer and python::FunctionTable; a process that exited, or a module let go, stays
// until CollectFlushed of the interval that used it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "profkit/pipeline/frame_symbolizer.h"
#include "profkit/pipeline/native_unwinding.h"
#include "profkit/pipeline/process_table.h"
#include "profkit/pipeline/python_processes.h"
#include "profkit/pipeline/profile_assembly.h"
#include "profkit/process/container_metadata.h"
#include "profkit/process/proc_fs.h"
#include "profkit/profile/aggregator.h"
#include "profkit/sampling/record.h"
#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::pipeline {

struct PipelineOptions {
  int sample_rate_hz = 99;
  std::string default_env;
  std::string proc_root = "/proc";
  std::string kallsyms_path = "/proc/kallsyms";
  size_t max_distinct_stacks = 200'000;
  // Aggregate every sample under this key instead of its process's service (one profile for a
  // whole `profkit record` session).
  std::optional<profile::ServiceKey> fixed_service;
  ProcessTableOptions process_table;
  // Separate debug files, MiniDebugInfo and debuginfod for stripped modules ([symbols]).
  symbolize::DebugInfoOptions symbols;
  // The symbolizer's bounds; from [symbols] max_section_mb and max_dwarf_units.
  symbolize::NativeSymbolizerLimits symbol_limits;
  // How code objects are read (empty: from the live process); see PythonProcesses.
  PythonProcesses::MemoryReaderFactory process_memory;
  // Bytes of processes' memory read per second, all together ([ebpf] python_read_kb_per_second).
  uint64_t python_read_bytes_per_second = kDefaultPythonReadBytesPerSecond;
  // Off-CPU records are expected ([ebpf] off_cpu, record --off-cpu): the pprof gets the
  // off-CPU and wall sample types (BuildServicePprof).
  bool off_cpu = false;
  // Test hook (FrameSymbolizer::SetDebugDelay): every symbolization sleeps this long.
  std::chrono::microseconds debug_symbolize_delay{0};
};

// The stacks of one ended interval, handed from the reader to the flush worker.
struct FlushBatch {
  uint64_t interval = 0;  // ProcessTable's interval number: CollectFlushed(interval) after building
  IntervalTiming timing;
  std::vector<profile::Aggregator::ServiceStacks> stacks;
  // Per entry of `stacks`: /proc/PID/exe of its most sampled process ("" when unknown), so the
  // pprof's first mapping is the program's (BuildServicePprof).
  std::vector<std::string> main_executables;
};

struct PipelineCounters {
  uint64_t samples = 0;
  uint64_t filtered_samples = 0;  // rejected by the sample filter
  uint64_t orphan_samples = 0;    // the process vanished before it could be identified
  uint64_t truncated_stacks = 0;
  uint64_t recovered_leaf_callers = 0;   // callers of frameless leaves restored from the stack top
  uint64_t leaf_rules_from_tables = 0;   // leaf rules a loaded unwind table gave (not the CFI)
  uint64_t python_stacks = 0;            // samples whose stack got Python frames
  uint64_t python_truncated_stacks = 0;  // of those, deeper than the walker goes
  uint64_t off_cpu_waits = 0;            // off-CPU stacks paired with their wait's end
  uint64_t off_cpu_pending_drops = 0;    // switch-outs not kept: kMaxPendingWaits threads wait
  uint64_t aggregation_drops = 0;        // distinct-stack limit reached
  uint64_t profiles_built = 0;           // (on the flush worker)
  uint64_t profile_errors = 0;           // (on the flush worker)
};

struct ServiceProfile {
  profile::ServiceKey key;
  std::string pprof_gzip;
  int64_t samples = 0;
};

class SamplePipeline {
 public:
  explicit SamplePipeline(PipelineOptions options);
  ~SamplePipeline();

  // Keeps only samples whose pid passes `filter` (record mode). The filter may consult the table.
  void SetSampleFilter(std::function<bool(uint32_t pid)> filter);
  // Where CPython processes are registered for the BPF walker (the sampler); null detaches, which
  // must happen before the registry is destroyed.
  void SetPythonRegistry(sampling::PythonProcessRegistry* registry);
  PythonCounters python_counters() const { return python_->counters(); }
  // Where container metadata (pod tags and naming) comes from; null (the default) = container
  // tags only. It must outlive the pipeline or be detached first.
  void SetContainerMetadata(process::ContainerMetadataSource* source) { metadata_ = source; }
  // Where native unwind tables are loaded (the sampler's maps); null stops loading them, which
  // must happen before the maps are destroyed. Builds tables on a thread of its own.
  void SetUnwindMaps(unwind::UnwindMaps* maps);
  // Null while no unwind maps are set.
  std::optional<unwind::UnwindStoreCounters> unwind_counters() const;
  ProcessTable& process_table() { return *process_table_; }

  void Handle(const sampling::Record& record);

  // Reader: ends the interval and hands out everything aggregated since the last one (a
  // fixed-service session always yields its key, even without samples: "it never ran").
  FlushBatch EndInterval(const IntervalTiming& timing);
  // Reader: releases the processes and modules only the flushes up to `interval` needed.
  void CollectFlushed(uint64_t interval);

  // Flush worker: one gzipped pprof per service of the batch.
  std::vector<ServiceProfile> BuildPprof(const FlushBatch& batch);
  // Flush worker: all services of the batch as stacks for the views (profile/stack_profile.h),
  // each stack valued by `value`.
  profile::StackProfile BuildStackProfile(const FlushBatch& batch,
                                          StackValueType value = StackValueType::kSamples);
  // Flush worker: one collapsed-stack text over all services of the batch (Python frames with
  // their file and line).
  std::string BuildCollapsed(const FlushBatch& batch,
                             StackValueType value = StackValueType::kSamples);

  PipelineCounters counters() const;
  ProcessTableCounters process_counters() const { return process_table_->counters(); }
  symbolize::NativeSymbolizer::Counters native_counters() const {
    return native_symbolizer_.counters();
  }

 private:
  void HandleSample(const sampling::SampleRecord& sample);
  void HandleProcessEvent(const sampling::ProcessEventRecord& event);
  // Adds scratch_ under `key` (a CPU sample), or keeps it until its wait ends (off-CPU).
  void Aggregate(const profile::ServiceKey& key, const sampling::SampleRecord& sample);
  void HandleOffCpuEnd(const sampling::OffCpuEndRecord& end);
  // Reader: the executable of the process with the most samples in `service`.
  std::string MostSampledExecutable(const profile::Aggregator::ServiceStacks& service);
  // A frame-pointer walk skips the caller of an innermost function that has not set up a frame
  // (GCC's leaf functions, libc's system-call wrappers); its CFI says where on the captured stack
  // top the return address into that caller is.
  void InsertCallerOfFramelessLeaf(ProcessTable::Process& process,
                                   const sampling::SampleRecord& sample,
                                   std::vector<profile::Frame>& frames);
  // Where InsertCallerOfFramelessLeaf finds the return address of `leaf`: from the unwind table
  // of its file when one is loaded (its CFI is then freed), else from the file's CFI.
  std::optional<uint64_t> LeafReturnAddressOffset(const profile::Frame& leaf);
  // Frees the CFI of the modules in cfi_modules_ whose tables are loaded since: once a table is
  // loaded, samples in the file come unwound (no stack top) or find the table, so the CFI (held in
  // the heap) would stay unused until the module is released.
  void CloseCfiOfModulesWithTables();
  // Replaces the user part of scratch_ with the merge of `native_user` and the sample's Python
  // frames.
  void AppendPythonStack(PythonProcesses::State& state, const sampling::SampleRecord& sample);

  const PipelineOptions options_;
  process::ProcFs proc_fs_;
  symbolize::NativeSymbolizer native_symbolizer_;
  // Modules whose CFI LeafReturnAddressOffset read while their file had no table loaded, with
  // their build ids; and the store's loaded_generation() when they were last checked.
  std::unordered_map<uint32_t, std::string> cfi_modules_;
  uint64_t cfi_checked_generation_ = 0;
  std::unique_ptr<ProcessTable> process_table_;
  std::unique_ptr<PythonProcesses> python_;
  std::unique_ptr<NativeUnwinding> unwinding_;  // observes the table before python_
  std::unique_ptr<FrameSymbolizer> frame_symbolizer_;
  profile::Aggregator aggregator_;
  std::function<bool(uint32_t)> filter_;
  process::ContainerMetadataSource* metadata_ = nullptr;
  PipelineCounters counters_;  // reader-owned, but for the two below
  std::atomic<uint64_t> profiles_built_{0};
  std::atomic<uint64_t> profile_errors_{0};
  // A thread's stacks at its last recorded switch-out, until the wait ends.
  struct PendingWait {
    uint32_t pid = 0;
    uint64_t switch_out_ktime_ns = 0;
    profile::ServiceKey key;
    profile::StackSample stack;
  };
  // Threads whose waits are followed at once (a few KiB of stacks each); beyond it, a thread's
  // wait is lost (PipelineCounters::off_cpu_pending_drops).
  static constexpr size_t kMaxPendingWaits = 65536;
  std::unordered_map<uint32_t, PendingWait> pending_waits_;  // by tid
  profile::StackSample scratch_;
  std::vector<profile::Frame> native_user_;
  std::vector<NativeFrameRole> roles_;
  std::vector<PythonStackFrame> python_frames_;
};

}  // namespace profkit::pipeline
