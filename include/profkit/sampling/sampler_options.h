// What `run` and `record` ask of a sample source, checked without touching the kernel.
#pragma once

#include <cstddef>

#include "profkit/common/limits.h"  // kMaxSampleRateHz
#include "profkit/common/status.h"

namespace profkit::sampling {

struct SamplerOptions {
  // 99 rather than 100 so sampling does not run in lock-step with 10 ms timers.
  int sample_rate_hz = 99;
  bool kernel_stacks = true;
  // Must be a power of two and a multiple of the page size; 0 = RingBufferBytesForCpus(the
  // number of possible CPUs), so a small host does not pin memory sized for a large one.
  size_t ring_buffer_bytes = 0;
  // BPF memory for native unwind tables ([ebpf] unwind_table_max_mb): 4 bytes per row, 8 per
  // 4 KiB page of code, plus a fixed 256 KiB of shared rules; 0 turns native unwinding off
  // (frame-pointer stacks only).
  size_t unwind_table_bytes = size_t{32} << 20;
};

// Largest accepted unwind table memory: ~2^29 rows, far above what a host's files need.
inline constexpr size_t kMaxUnwindTableBytes = size_t{2} << 30;

// Largest accepted ring buffer; above this the memory is better spent elsewhere.
inline constexpr size_t kMaxRingBufferBytes = size_t{1} << 30;

// Checks SamplerOptions (with ring_buffer_bytes already resolved from 0).
Status ValidateSamplerOptions(const SamplerOptions& options);

}  // namespace profkit::sampling
