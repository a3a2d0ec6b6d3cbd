// The one in-memory form every human-facing view (flame graph SVG, speedscope, collapsed text) is
// written from: symbolized stacks of frames with their kind, function, file, line and module, and
// a value per stack. `profkit record` builds it from the live aggregation
// (pipeline/profile_assembly.h), `profkit convert` from a parsed pprof (StackProfileFromPprof), so
// both share the writers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pprof/profile.pb.h"
#include "profkit/common/status.h"
#include "profkit/profile/frame.h"

namespace profkit::profile {

// One function of a stack; an inlined call is a frame of its own, as in pprof's Line.
struct ViewFrame {
  FrameKind kind = FrameKind::kNative;
  std::string function;
  std::string file;    // "" when unknown
  int64_t line = 0;    // 0 when unknown
  std::string module;  // the binary or library; "[kernel.kallsyms]"; "" for Python code

  bool operator==(const ViewFrame&) const = default;
};

struct ViewFrameHash {
  size_t operator()(const ViewFrame& f) const noexcept;
};

// What the title of a view says about the recording.
struct ProfileInfo {
  std::string title;        // e.g. the recorded command, or the converted file's name
  int64_t duration_ns = 0;  // 0 when unknown
  int64_t period_ns = 0;    // the CPU time one sample stands for (1e9 / rate); 0 when unknown
  std::string value_name = "samples";
  std::string value_unit = "count";  // "count" or pprof's unit, e.g. "nanoseconds"
};

class StackProfile {
 public:
  struct Stack {
    std::vector<uint32_t> frames;  // indexes into frames(), root (outermost) first
    int64_t value = 0;
    uint32_t thread = 0;  // index into threads()
  };

  // Identical frames share one index.
  uint32_t InternFrame(const ViewFrame& frame);
  // Identical thread names share one index.
  uint32_t InternThread(std::string_view name);
  // Empty stacks and non-positive values are ignored; the total saturates at INT64_MAX.
  void AddStack(std::vector<uint32_t> frames_root_first, int64_t value, uint32_t thread = 0);

  const std::vector<ViewFrame>& frames() const { return frames_; }
  const std::vector<std::string>& threads() const { return threads_; }
  const std::vector<Stack>& stacks() const { return stacks_; }
  int64_t total() const { return total_; }

  ProfileInfo info;

 private:
  std::vector<ViewFrame> frames_;
  std::unordered_map<ViewFrame, uint32_t, ViewFrameHash> frame_index_;
  std::vector<std::string> threads_;
  std::unordered_map<std::string, uint32_t> thread_index_;
  std::vector<Stack> stacks_;
  int64_t total_ = 0;
};

// The name pprof mappings of kernel code carry in every profile profkit writes.
inline constexpr std::string_view kKernelMappingName = "[kernel.kallsyms]";

// A pprof validated by ParsePprof (so every reference resolves) as stacks. The value is the
// "samples" (or unit "count") sample type when there is one, else the first; frames are kernel when
// their mapping is [kernel.kallsyms], Python when they have no mapping but a source file (how
// profkit writes Python frames), native otherwise. Threads come from the thread_name and tid
// labels.
StackProfile StackProfileFromPprof(const perftools::profiles::Profile& pprof);
// The same with the value of sample type `value_index` (< pprof.sample_type_size()).
StackProfile StackProfileFromPprof(const perftools::profiles::Profile& pprof, int value_index);

}  // namespace profkit::profile
