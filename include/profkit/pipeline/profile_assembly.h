// Builds the outputs of one interval from aggregated stacks: a pprof per service, or one
// collapsed-stack text for `profkit record`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/pipeline/frame_symbolizer.h"
#include "profkit/profile/aggregator.h"

namespace profkit::pipeline {

struct IntervalTiming {
  int64_t start_unix_ns = 0;
  int64_t end_unix_ns = 0;
  int64_t sample_period_ns = 0;  // 1e9 / sample rate: the CPU time one sample stands for
};

// pprof with sample types samples/count and cpu/nanoseconds, labels pid, tid, thread_name, one
// mapping per module (addresses are file offsets, so processes share locations), gzip-compressed.
Result<std::string> BuildServicePprof(const profile::Aggregator::ServiceStacks& stacks,
                                      FrameSymbolizer& symbolizer, const IntervalTiming& timing);

// One line per distinct stack of all services, root first.
std::string BuildCollapsed(const std::vector<profile::Aggregator::ServiceStacks>& services,
                           FrameSymbolizer& symbolizer);

}  // namespace profkit::pipeline
