// Builds the outputs of one interval from aggregated stacks: a pprof per service, or one
// collapsed-stack text for `profkit record`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/pipeline/frame_symbolizer.h"
#include "profkit/profile/aggregator.h"
#include "profkit/profile/pprof_builder.h"
#include "profkit/profile/stack_profile.h"

namespace profkit::pipeline {

struct IntervalTiming {
  int64_t start_unix_ns = 0;
  int64_t end_unix_ns = 0;
  int64_t sample_period_ns = 0;  // 1e9 / sample rate: the CPU time one sample stands for
};

// Which value of an aggregated stack a view shows; the names are the pprof sample types.
enum class StackValueType {
  kSamples,       // samples/count: CPU samples
  kCpu,           // cpu/nanoseconds: samples × the sample period
  kOffCpu,        // off-cpu/nanoseconds: time waiting off CPU
  kOffCpuEvents,  // off-cpu-events/count: the waits (switches) behind it
  kWall,          // wall/nanoseconds: cpu + off-cpu
};
// "samples", "cpu", "off-cpu", "off-cpu-events", "wall"; nullopt for anything else.
std::optional<StackValueType> ParseStackValueType(std::string_view name);
// The pprof sample type of `value`, e.g. {"off-cpu", "nanoseconds"}.
profile::ValueType ValueTypeOf(StackValueType value);
// `values` as `value`, with `sample_period_ns` the CPU time of one sample.
int64_t StackValueOf(const profile::StackValues& values, StackValueType value,
                     int64_t sample_period_ns);

// pprof with sample types samples/count and cpu/nanoseconds, and with `off_cpu` also
// off-cpu/nanoseconds, off-cpu-events/count and wall/nanoseconds (= cpu + off-cpu of each stack),
// labels pid, tid, thread_name, one mapping per module (addresses are file offsets, so processes
// share locations), gzip-compressed.
// Mapping 1 is `main_executable` (go tool pprof and pprof UIs title a profile after mapping 1;
// without this a Python service's first mapping was whichever module its first sample hit, often
// [kernel.kallsyms]); "" leaves the order to the samples.
Result<std::string> BuildServicePprof(const profile::Aggregator::ServiceStacks& stacks,
                                      FrameSymbolizer& symbolizer, const IntervalTiming& timing,
                                      std::string_view main_executable = {}, bool off_cpu = false);

// The stacks of all services as the views' neutral form (profile/stack_profile.h): each frame
// symbolized once, inlined functions as frames of their own, threads named "name (tid)", each
// stack valued by `value` (stacks whose value is 0 are left out). profile.info gets the value's
// name and unit; the rest is left for the caller to fill.
profile::StackProfile BuildStackProfile(
    const std::vector<profile::Aggregator::ServiceStacks>& services, FrameSymbolizer& symbolizer,
    const IntervalTiming& timing = {}, StackValueType value = StackValueType::kSamples);

}  // namespace profkit::pipeline
