// The kernel's CPU list format, as in /sys/devices/system/cpu/online: "0-3,8,10-11\n".
#pragma once

#include <string_view>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::sampling {

// Highest CPU number accepted. The kernel's NR_CPUS is at most 8192 on every architecture;
// anything above is a corrupt file, not a machine.
inline constexpr int kMaxCpuId = 8191;

// Sorted, de-duplicated CPU numbers. Errors name the offending element.
Result<std::vector<int>> ParseCpuList(std::string_view text);

// The default ring-buffer size for a host with `cpus` CPUs: 1 MiB per CPU holds ~850 samples of
// Python processes 50 frames deep (1.2 KiB), several seconds of reader stall at 99 Hz; rounded
// up to a power of two (the kernel requires it) and kept within [4 MiB, 64 MiB].
size_t RingBufferBytesForCpus(size_t cpus);

}  // namespace profkit::sampling
