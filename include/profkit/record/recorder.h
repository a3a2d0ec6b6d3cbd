// `profkit record`: a one-shot profile of chosen processes (and their threads and children) or of
// a command it starts, written as one pprof, collapsed-stack, speedscope or flame graph SVG file —
// py-spy record, system-wide machinery.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/pipeline/profile_assembly.h"
#include "profkit/profile/profile_views.h"
#include "profkit/sampling/sample_source.h"

namespace profkit::record {

struct RecordOptions {
  std::vector<uint32_t> pids;
  std::vector<std::string> command;  // started by profkit when non-empty
  int sample_rate_hz = 99;
  std::optional<double> duration_seconds;  // default: until the command/targets exit or Ctrl-C
  // nullopt: pprof; else one of the views (profile/profile_views.h), with `view_options`.
  std::optional<profile::ViewFormat> view;
  profile::ViewOptions view_options;
  std::string output;  // "" = profkit-<timestamp>.pprof|.txt|.svg|.speedscope.json here
  bool kernel_stacks = true;
  // Unwind user stacks with .eh_frame tables (32 MiB of BPF memory); false: frame pointers only.
  bool native_unwinding = true;
  // When set, the raw records and /proc facts of the session are also written there
  // (record_dump.h), for replay.
  std::string dump_records;
  // Off-CPU waits too (sampling::OffCpuOptions), recorded as the agent's defaults do.
  bool off_cpu = false;
  uint64_t off_cpu_min_duration_ns = sampling::OffCpuOptions{}.min_duration_ns;
  // Every switch by default: one recording of one program wants exact values; the agent's default
  // is about the cost host-wide.
  uint32_t off_cpu_sample_every = 1;
  // The value the views write; default samples, or wall with off_cpu.
  std::optional<pipeline::StackValueType> sample_type;
};

struct RecordSummary {
  std::string output_path;
  uint64_t samples = 0;
  std::optional<int> command_exit_status;  // exit code, or 128 + signal
};

// Samples from the source `sources` makes until the duration elapses, the command (or every
// target pid) exits, the source is exhausted, or `stop` is set.
Result<RecordSummary> Record(const RecordOptions& options, const std::atomic<bool>& stop,
                             const sampling::SampleSourceFactory& sources);

}  // namespace profkit::record
