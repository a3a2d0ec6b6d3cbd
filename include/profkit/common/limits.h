// Limits that more than one module checks (the config parser, the command line and the code that
// uses the value), each defined once here so they cannot drift apart.
#pragma once

#include <cstddef>

namespace profkit {

// Highest sample rate per CPU: the kernel's kernel.perf_event_max_sample_rate ceiling is 100000 by
// default, but beyond 1000 Hz the BPF program's cost per sample dominates what it measures.
inline constexpr int kMaxSampleRateHz = 1000;

// More Dataway senders than this only open more connections to one Dataway.
inline constexpr int kMaxUploadWorkers = 256;

// Longest tag key or value, from the config or read from a process's environment. Tags end up in
// event.json's tags_profiler, pprof labels and line protocol; longer values are configuration
// mistakes (config) or cut (process environments).
inline constexpr size_t kMaxTagBytes = 200;

}  // namespace profkit
