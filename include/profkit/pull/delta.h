// Delta profiles as dd-trace-go computes them (pprofutils/delta.go): Go's heap, mutex and block
// profiles are cumulative since process start, so each upload carries current − previous for the
// cumulative sample types and the current value for the rest (heap inuse_*).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pprof/profile.pb.h"
#include "profkit/common/status.h"
#include "profkit/config/go_target.h"

namespace profkit::pull {

// The cumulative sample type names of a profile type: heap/allocs alloc_objects and alloc_space,
// mutex/block contentions and delay; none for cpu and goroutine.
std::vector<std::string> DeltaSampleTypes(config::GoProfileType type);

struct DeltaStats {
  // Samples whose cumulative value went down (the target restarted or changed its sampling rate);
  // their delta is clamped to 0.
  int64_t clamped_samples = 0;
};

// Samples are matched by stack (per location its function/file/line chain, or its address when
// it has no line info) plus labels; duplicate stacks in `current` are summed, stacks only in
// `previous` are dropped (cumulative profiles never lose stacks in a running process).
// Cumulative types become current − previous (never negative), others keep current's values;
// samples whose values are all 0 are dropped. time_nanos is current's, duration_nanos the time
// between the two. Fails when the sample types of the two profiles differ.
Result<perftools::profiles::Profile> ComputeDelta(const perftools::profiles::Profile& previous,
                                                  const perftools::profiles::Profile& current,
                                                  const std::vector<std::string>& delta_types,
                                                  DeltaStats* stats);

// Sum of the sample type named `type` over all samples, or nullopt when the profile lacks it.
// For Go's goroutine profile and type "goroutine" this is the goroutine count.
std::optional<int64_t> SumSampleType(const perftools::profiles::Profile& profile,
                                     const std::string& type);

}  // namespace profkit::pull
