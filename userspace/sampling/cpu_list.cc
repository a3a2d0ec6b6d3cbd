#include "profkit/sampling/cpu_list.h"

#include <algorithm>
#include <charconv>

namespace profkit::sampling {
namespace {

Result<int> ParseCpu(std::string_view text, std::string_view element) {
  int cpu = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), cpu);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || cpu < 0 ||
      cpu > kMaxCpuId) {
    return Status::InvalidInputf("CPU list element '{}': '{}' is not a CPU number in [0, {}]",
                                 element, text, kMaxCpuId);
  }
  return cpu;
}

}  // namespace

Result<std::vector<int>> ParseCpuList(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return Status::InvalidInput("CPU list is empty");

  std::vector<int> cpus;
  for (;;) {
    const size_t comma = text.find(',');
    const std::string_view element = text.substr(0, comma);

    const size_t dash = element.find('-');
    PROFKIT_ASSIGN_OR_RETURN(const int first, ParseCpu(element.substr(0, dash), element));
    int last = first;
    if (dash != std::string_view::npos) {
      PROFKIT_ASSIGN_OR_RETURN(last, ParseCpu(element.substr(dash + 1), element));
      if (last < first)
        return Status::InvalidInputf("CPU list element '{}' is a reversed range", element);
    }
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
    // Bounded even for overlapping ranges: each range is within [0, kMaxCpuId].
    if (cpus.size() > static_cast<size_t>(kMaxCpuId) + 1) {
      return Status::TooLargef("CPU list names more than {} CPUs", kMaxCpuId + 1);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

size_t RingBufferBytesForCpus(size_t cpus) {
  // A sample of a Python process with 50 frames is about 1.2 KiB. The reader polls every 100 ms
  // but on a saturated host may not run for a second or more: a 1 MiB buffer overflowed at 499 Hz
  // on 2 busy CPUs, 4 MiB (3 s of such samples) did not.
  constexpr size_t kBytesPerCpu = size_t{1} << 20;
  constexpr size_t kMinBytes = size_t{4} << 20;
  constexpr size_t kMaxBytes = size_t{64} << 20;
  size_t bytes = kMinBytes;
  while (bytes < cpus * kBytesPerCpu && bytes < kMaxBytes) bytes *= 2;
  return bytes;
}

}  // namespace profkit::sampling
