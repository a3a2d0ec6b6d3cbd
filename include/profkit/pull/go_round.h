// One pull round of a Go target: fetch every enabled profile, turn the cumulative ones into
// deltas against the previous round, and package the result as one upload (dd-trace-go's layout).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pprof/profile.pb.h"
#include "profkit/common/status.h"
#include "profkit/forward/upload.h"
#include "profkit/pull/delta.h"
#include "profkit/config/go_target.h"
#include "profkit/pull/pprof_fetch.h"

namespace profkit::pull {

// Decompressed size limit for a pulled profile (Go's own output compresses ~5–10×).
inline constexpr size_t kMaxDecompressedProfileBytes = 256 << 20;

// "cpu.pprof", "delta-heap.pprof", "delta-mutex.pprof", "delta-block.pprof", "goroutines.pprof",
// "delta-allocs.pprof": the attachment names dd-trace-go uses (allocs is a profkit extra).
std::string_view AttachmentName(config::GoProfileType type);

// What one round fetched, before delta computation.
struct RawRound {
  std::map<config::GoProfileType, FetchedProfile> profiles;
  int64_t start_unix_nanos = 0, end_unix_nanos = 0;
};

struct RoundResult {
  // Empty attachments when the round had nothing to send (first pull of delta-only types).
  forward::ProfileUpload upload;
  // The `goroutine` sample type's total of goroutines.pprof: prof_go_num_goroutine.
  std::optional<int64_t> num_goroutine;
  DeltaStats delta_stats;
};

// Holds the previous cumulative profiles of one target between rounds. Not thread-safe.
class DeltaState {
 public:
  // Parses every fetched profile (garbage is an error naming the profile type, and leaves the
  // state unchanged), computes deltas, and packages the upload with the target's tags.
  Result<RoundResult> Process(const config::GoTarget& target, const RawRound& round);

 private:
  std::map<config::GoProfileType, perftools::profiles::Profile> previous_;
};

// Fetches the enabled types in a fixed order (cpu first, it takes `cpu_seconds`). Stops at the
// first failure, which `error` describes.
// How long the CPU profile of one round records: the interval minus time for the other pulls,
// capped at one minute (dd-trace-go's default duration).
std::chrono::seconds CpuProfileDuration(std::chrono::seconds interval);

bool FetchRound(const config::GoTarget& target, PprofFetcher& fetcher,
                std::chrono::seconds cpu_seconds, RawRound* round, FetchError* error);

}  // namespace profkit::pull
