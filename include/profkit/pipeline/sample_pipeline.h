// The road from decoded BPF records to per-service profiles, shared by the daemon (`run`) and the
// one-shot `record`: process events keep the ProcessTable fresh, samples become lifetime-independent
// stacks aggregated per service, and Flush symbolizes each distinct frame once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "profkit/pipeline/frame_symbolizer.h"
#include "profkit/pipeline/process_table.h"
#include "profkit/pipeline/python_processes.h"
#include "profkit/pipeline/profile_assembly.h"
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
};

struct PipelineCounters {
  uint64_t samples = 0;
  uint64_t filtered_samples = 0;   // rejected by the sample filter
  uint64_t orphan_samples = 0;     // the process vanished before it could be identified
  uint64_t truncated_stacks = 0;
  uint64_t recovered_leaf_callers = 0;  // callers of frameless leaves restored from the stack top
  uint64_t python_stacks = 0;           // samples whose stack got Python frames
  uint64_t python_truncated_stacks = 0; // of those, deeper than the walker goes
  uint64_t aggregation_drops = 0;  // distinct-stack limit reached
  uint64_t profiles_built = 0;
  uint64_t profile_errors = 0;
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
  ProcessTable& process_table() { return *process_table_; }

  void Handle(const sampling::Record& record);

  // Builds one pprof per service from everything aggregated since the last flush, then releases
  // processes that exited before it. `between_profiles`, when set, runs after each profile and as
  // FrameSymbolizer's miss hook: the daemon handles the records that arrived meanwhile there
  // (Handle may be called), so a flush that symbolizes for a while does not delay registering a
  // new Python program.
  std::vector<ServiceProfile> FlushPprof(const IntervalTiming& timing,
                                         const std::function<void()>& between_profiles = {});
  // Same, as one collapsed-stack text over all services.
  std::string FlushCollapsed();

  PipelineCounters counters() const;
  ProcessTableCounters process_counters() const { return process_table_->counters(); }

 private:
  void HandleSample(const sampling::SampleRecord& sample);
  void HandleProcessEvent(const sampling::ProcessEventRecord& event);
  // A frame-pointer walk skips the caller of an innermost function that has not set up a frame
  // (GCC's leaf functions, libc's system-call wrappers); its CFI says where on the captured stack
  // top the return address into that caller is.
  void InsertCallerOfFramelessLeaf(ProcessTable::Process& process, const sampling::SampleRecord& sample,
                                   std::vector<profile::Frame>& frames);
  // Replaces the user part of scratch_ with the merge of `native_user` and the sample's Python
  // frames.
  void AppendPythonStack(PythonProcesses::State& state, const sampling::SampleRecord& sample);

  const PipelineOptions options_;
  process::ProcFs proc_fs_;
  symbolize::NativeSymbolizer native_symbolizer_;
  std::unique_ptr<ProcessTable> process_table_;
  std::unique_ptr<PythonProcesses> python_;
  std::unique_ptr<FrameSymbolizer> frame_symbolizer_;
  profile::Aggregator aggregator_;
  std::function<bool(uint32_t)> filter_;
  PipelineCounters counters_;
  profile::StackSample scratch_;
  std::vector<profile::Frame> native_user_;
  std::vector<NativeFrameRole> roles_;
  std::vector<PythonStackFrame> python_frames_;
};

}  // namespace profkit::pipeline
