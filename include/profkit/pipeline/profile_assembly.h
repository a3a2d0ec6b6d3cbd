// Builds the outputs of one interval from aggregated stacks: a pprof per service, or one
// collapsed-stack text for `profkit record`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/pipeline/frame_symbolizer.h"
#include "profkit/profile/aggregator.h"
#include "profkit/profile/stack_profile.h"

namespace profkit::pipeline {

struct IntervalTiming {
  int64_t start_unix_ns = 0;
  int64_t end_unix_ns = 0;
  int64_t sample_period_ns = 0;  // 1e9 / sample rate: the CPU time one sample stands for
};

// pprof with sample types samples/count and cpu/nanoseconds, labels pid, tid, thread_name, one
// mapping per module (addresses are file offsets, so processes share locations), gzip-compressed.
// Mapping 1 is `main_executable` (go tool pprof and pprof UIs title a profile after mapping 1;
// without this a Python service's first mapping was whichever module its first sample hit, often
// [kernel.kallsyms]); "" leaves the order to the samples.
Result<std::string> BuildServicePprof(const profile::Aggregator::ServiceStacks& stacks,
                                      FrameSymbolizer& symbolizer, const IntervalTiming& timing,
                                      std::string_view main_executable = {});

// The stacks of all services as the views' neutral form (profile/stack_profile.h): each frame
// symbolized once, inlined functions as frames of their own, threads named "name (tid)".
// profile.info is left for the caller to fill.
profile::StackProfile BuildStackProfile(
    const std::vector<profile::Aggregator::ServiceStacks>& services, FrameSymbolizer& symbolizer);

}  // namespace profkit::pipeline
