// Pyroscope payloads → what profkit forwards: folded/lines text → pprof, the language of a
// spyName, and the attachment name of a pprof.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pprof/profile.pb.h"
#include "profkit/common/status.h"

namespace profkit::pyroscope {

// Deeper stacks are cut by every profiler long before this; a longer line is garbage.
inline constexpr size_t kMaxFoldedFrames = 4096;
// A billion samples of one stack in one upload is already 115 days of one CPU at 100 Hz; the
// bound keeps count × period (period ≤ 1e9 ns) within int64.
inline constexpr int64_t kMaxFoldedCount = 1'000'000'000;

struct FoldedOptions {
  bool lines = false;       // format=lines: a stack per line, counted once; else "a;b;c <count>"
  std::string_view metric;  // the application name's suffix ("cpu", "inuse_space", ...) or ""
  std::string_view units = "samples";
  int64_t sample_rate = 100;
  int64_t start_unix_nanos = 0, end_unix_nanos = 0;
};

// Frames are root first, separated by ';'; blank lines are skipped; a line whose count is 0 is
// dropped. Sample types: units "samples" → samples/count and cpu/nanoseconds (wall/nanoseconds
// for metric "wall") with period 1e9/sample_rate and value count × period; "objects" →
// <metric or "objects">/count; "bytes" → <metric or "space">/bytes; "goroutines" →
// goroutine/count; "lock_samples" → contentions/count; "lock_nanoseconds" → delay/nanoseconds;
// other units → <units>/count. Errors name the line.
struct FoldedProfile {
  std::string gzip;  // the gzip-compressed pprof
  std::vector<std::string> sample_types;
};
Result<FoldedProfile> FoldedToPprof(std::string_view text, const FoldedOptions& options);

// DataKit's language value for a Pyroscope spyName (README "Pyroscope ingest"): the known spies
// by name (gospy → golang, pyspy → python, rbspy → ruby, nodespy → nodejs, dotnetspy → dotnet,
// ebpfspy → cpp, phpspy → php, javaspy → java, pyroscope-rs → rust), otherwise the name without a
// "spy" suffix resolved like a tracer's language; "unknown" when nothing matches.
std::string LanguageForSpy(std::string_view spy_name);

// The file name a pprof is forwarded under, from its sample types (and `hint`, e.g. the
// sample_type_config display names or a push series' __name__): wall.pprof, cpu.pprof,
// heap.pprof, mutex.pprof, block.pprof, goroutines.pprof, else profile.pprof. For gospy the
// names of dd-trace-go uploads (delta-heap.pprof, ...) so that Go profiles look alike whichever
// way they arrive.
std::string AttachmentName(std::span<const std::string> sample_types, std::string_view hint,
                           std::string_view spy_name);

// The sample type names of a profile, in order.
std::vector<std::string> SampleTypes(const perftools::profiles::Profile& profile);

}  // namespace profkit::pyroscope
