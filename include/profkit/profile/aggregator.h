// Counts identical stacks per service during one upload interval, before symbolization (frames are
// raw addresses, so each distinct frame is symbolized once per interval, not once per sample).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "profkit/profile/frame.h"
#include "profkit/profile/hashing.h"

namespace profkit::profile {

// What one distinct stack accumulated in an interval: CPU samples, and off-CPU time and events
// (bpf/off_cpu.bpf.h; already weighted back by the BPF side's 1-in-N sampling).
struct StackValues {
  int64_t samples = 0;
  int64_t off_cpu_ns = 0;
  int64_t off_cpu_events = 0;

  bool operator==(const StackValues&) const = default;
};

// Bounded: at most `max_distinct_stacks` distinct (service, stack) entries are kept per interval;
// a sample of a stack not yet seen beyond that is counted in dropped_samples() (the caller logs
// it). Not thread-safe: one sampling thread owns it.
class Aggregator {
 public:
  // About 150 MB at a typical depth of 30 frames (24 bytes each plus per-entry overhead), and far
  // above the distinct stacks 99 Hz on a few dozen CPUs yields in one interval.
  static constexpr size_t kDefaultMaxDistinctStacks = 200'000;

  explicit Aggregator(size_t max_distinct_stacks = kDefaultMaxDistinctStacks);

  // `count` is the number of samples this stack stands for; non-positive counts are ignored.
  void Add(const ServiceKey& key, const StackSample& sample, int64_t count = 1);
  // A wait of `off_cpu_ns` standing for `events` switches; ignored unless both are positive.
  void AddOffCpu(const ServiceKey& key, const StackSample& sample, int64_t off_cpu_ns,
                 int64_t events);

  struct ServiceStacks {
    ServiceKey key;
    // Sorted by (pid, tid, frames, thread name, truncated) so output built from it is
    // deterministic.
    std::vector<std::pair<StackSample, StackValues>> stacks;
    int64_t total = 0;             // sum of the samples in `stacks`
    int64_t off_cpu_total_ns = 0;  // sum of their off_cpu_ns
  };
  // Returns everything, sorted by key, and resets the aggregator including its counters.
  std::vector<ServiceStacks> Drain();

  size_t distinct_stacks() const { return distinct_stacks_; }
  // Samples and off-CPU events not kept because of the distinct-stack bound.
  uint64_t dropped_samples() const { return dropped_samples_; }

 private:
  using StackCounts = std::unordered_map<StackSample, StackValues, StackSampleHash>;

  void AddValues(const ServiceKey& key, const StackSample& sample, const StackValues& values);

  size_t max_distinct_stacks_;
  std::unordered_map<ServiceKey, StackCounts, ServiceKeyHash> services_;
  size_t distinct_stacks_ = 0;
  uint64_t dropped_samples_ = 0;
};

}  // namespace profkit::profile
