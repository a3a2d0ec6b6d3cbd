#include "profkit/sampling/sampler_options.h"

#include <unistd.h>

namespace profkit::sampling {

Status ValidateSamplerOptions(const SamplerOptions& options) {
  if (options.sample_rate_hz < 1 || options.sample_rate_hz > kMaxSampleRateHz) {
    return Status::InvalidInputf("sample rate {} Hz is outside [1, {}]", options.sample_rate_hz,
                                 kMaxSampleRateHz);
  }
  const size_t bytes = options.ring_buffer_bytes;
  const auto page_size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (bytes < page_size || bytes > kMaxRingBufferBytes || (bytes & (bytes - 1)) != 0) {
    return Status::InvalidInputf(
        "ring buffer size {} bytes must be a power of two between the page size ({}) and {}", bytes,
        page_size, kMaxRingBufferBytes);
  }
  if (options.unwind_table_bytes > kMaxUnwindTableBytes) {
    return Status::InvalidInputf("unwind table memory {} bytes is above the limit of {}",
                                 options.unwind_table_bytes, kMaxUnwindTableBytes);
  }
  if (options.off_cpu.sample_every < 1 || options.off_cpu.sample_every > kMaxOffCpuSampleEvery) {
    return Status::InvalidInputf("off-CPU sampling 1 in {} is outside [1, {}]",
                                 options.off_cpu.sample_every, kMaxOffCpuSampleEvery);
  }
  if (options.off_cpu.min_duration_ns > kMaxOffCpuMinDurationNs) {
    return Status::InvalidInputf("off-CPU minimum duration {} ns is above the limit of {} ns",
                                 options.off_cpu.min_duration_ns, kMaxOffCpuMinDurationNs);
  }
  return Status::Ok();
}

}  // namespace profkit::sampling
