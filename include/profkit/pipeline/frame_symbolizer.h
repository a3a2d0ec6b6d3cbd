// Turns aggregated frames into names, files and lines, once per distinct frame: results are cached
// across upload intervals (bounded), since the same hot frames recur every interval.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "profkit/profile/frame.h"
#include "profkit/profile/pprof_builder.h"
#include "profkit/python/frame_resolver.h"
#include "profkit/symbolize/kernel_symbolizer.h"
#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::pipeline {

struct SymbolizedFrame {
  // Innermost first: inlined functions precede the function they were inlined into. Never empty:
  // a frame without a symbol gets "<module>+0x<offset>" (or "[unknown]") as its function name.
  std::vector<profile::PprofLine> lines;
  bool symbol_found = false;
};

class FrameSymbolizer {
 public:
  // `kernel` may be null when kernel symbols are unavailable; `python_functions` names Python
  // frames (may be null when none are produced).
  FrameSymbolizer(symbolize::NativeSymbolizer& native,
                  std::unique_ptr<symbolize::KernelSymbolizer> kernel,
                  const python::FunctionTable* python_functions = nullptr,
                  size_t max_cached_frames = 500'000);

  const SymbolizedFrame& Symbolize(const profile::Frame& frame);

  // Called before an uncached symbolization once kMissesPerHook of them or kHookIntervalNs have
  // passed since the last call, while no result of this class is being read: the daemon handles
  // newly arrived records there during a long flush (a new Python process is registered late
  // otherwise, and its first samples lack Python frames). Empty = none.
  static constexpr int kMissesPerHook = 64;
  static constexpr int64_t kHookIntervalNs = 5'000'000;
  void SetMissHook(std::function<void()> hook) { miss_hook_ = std::move(hook); }

  // The text of each frame in the "collapsed" format, innermost first: function names, kernel
  // frames suffixed "_[k]".
  std::vector<std::string> CollapsedNames(const profile::Frame& frame);

  symbolize::NativeSymbolizer& native() { return native_; }

 private:
  SymbolizedFrame SymbolizeUncached(const profile::Frame& frame);

  symbolize::NativeSymbolizer& native_;
  std::unique_ptr<symbolize::KernelSymbolizer> kernel_;
  const python::FunctionTable* python_functions_;
  const size_t max_cached_frames_;
  std::unordered_map<profile::Frame, SymbolizedFrame, profile::FrameHash> cache_;
  std::function<void()> miss_hook_;
  int misses_since_hook_ = 0;
  int64_t last_hook_ns_ = 0;
};

}  // namespace profkit::pipeline
