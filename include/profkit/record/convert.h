// `profkit convert IN.pprof --format svg|speedscope|collapsed -o OUT`: the views `record` writes,
// for any pprof profkit wrote (a `record` file, or a `run` daemon's local files).
#pragma once

#include <cstddef>
#include <string>

#include "profkit/common/status.h"
#include "profkit/profile/profile_views.h"

namespace profkit::record {

struct ConvertOptions {
  std::string input;
  std::string output;
  profile::ViewFormat format = profile::ViewFormat::kSvg;
  profile::ViewOptions view_options;
  // The pprof sample type the views write, e.g. "off-cpu"; "" = samples (or the first count).
  std::string sample_type;
  // The input (gzip-compressed or not) and its decompressed size are bounded by this.
  size_t max_profile_bytes = 512u << 20;
};

struct ConvertSummary {
  size_t stacks = 0;
  int64_t total = 0;  // of the value the views show
};

// Reads, validates (profile::ParsePprof) and writes atomically; the title is the input's name.
Result<ConvertSummary> ConvertProfile(const ConvertOptions& options);

}  // namespace profkit::record
