// What `run` and `record` ask of a sample source, checked without touching the kernel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "profkit/common/limits.h"  // kMaxSampleRateHz
#include "profkit/common/status.h"

namespace profkit::sampling {

// Off-CPU profiling ([ebpf] off_cpu*, `profkit record --off-cpu`; bpf/off_cpu.bpf.h).
struct OffCpuOptions {
  bool enabled = false;
  // Waits shorter than this are ignored (they cost a map update and delete, no stack walk).
  uint64_t min_duration_ns = 1'000'000;
  // 1 in N switches is recorded, and counts for N. 100: walking a stack costs some 4 us, and a
  // busy host switches 100,000 times a second and more (bench/offcpu.sh, README).
  uint32_t sample_every = 100;
  // Also the waits of kernel threads (kworkers, ksoftirqd...).
  bool kernel_threads = false;
};

// Bounds of OffCpuOptions: a minimum above a minute leaves nothing to see, and sampling coarser
// than 1 in 10,000 leaves too few records for any stack to be right.
inline constexpr uint64_t kMaxOffCpuMinDurationNs = 60'000'000'000;
inline constexpr uint32_t kMaxOffCpuSampleEvery = 10'000;

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
  OffCpuOptions off_cpu;
};

// Largest accepted unwind table memory: ~2^29 rows, far above what a host's files need.
inline constexpr size_t kMaxUnwindTableBytes = size_t{2} << 30;

// Largest accepted ring buffer; above this the memory is better spent elsewhere.
inline constexpr size_t kMaxRingBufferBytes = size_t{1} << 30;

// Checks SamplerOptions (with ring_buffer_bytes already resolved from 0).
Status ValidateSamplerOptions(const SamplerOptions& options);

}  // namespace profkit::sampling
