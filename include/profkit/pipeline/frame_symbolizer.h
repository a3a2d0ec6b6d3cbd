// Turns aggregated frames into names, files and lines, once per distinct frame: results are cached
// across upload intervals (bounded), since the same hot frames recur every interval.
#pragma once

#include <cstdint>
#include <chrono>
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

  // Used by the flush worker only (the cache is not shared); `native` and `python_functions` are
  // thread-safe and shared with the reader.
  const SymbolizedFrame& Symbolize(const profile::Frame& frame);

  // Test hook: sleep this long in every Symbolize call, to prove that a slow flush does not
  // delay sampling (tests/integration/test_run.py; PROFKIT_DEBUG_SYMBOLIZE_DELAY_US of `run`).
  void SetDebugDelay(std::chrono::microseconds delay) { debug_delay_ = delay; }

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
  // NativeSymbolizer::names_generation() when cache_ was filled: a debug file that arrived since
  // names frames the cache holds as module+offset.
  uint64_t names_generation_ = 0;
  std::chrono::microseconds debug_delay_{0};
};

}  // namespace profkit::pipeline
