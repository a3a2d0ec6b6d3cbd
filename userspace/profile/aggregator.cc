#include "profkit/profile/aggregator.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

namespace profkit::profile {
namespace {

bool FrameLess(const Frame& a, const Frame& b) {
  return std::tie(a.kind, a.module_id, a.address, a.is_return_address) <
         std::tie(b.kind, b.module_id, b.address, b.is_return_address);
}

bool StackLess(const StackSample& a, const StackSample& b) {
  if (a.pid != b.pid) return a.pid < b.pid;
  if (a.tid != b.tid) return a.tid < b.tid;
  if (a.frames != b.frames) {
    return std::lexicographical_compare(a.frames.begin(), a.frames.end(), b.frames.begin(),
                                        b.frames.end(), FrameLess);
  }
  if (a.thread_name != b.thread_name) return a.thread_name < b.thread_name;
  return a.truncated < b.truncated;
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<int64_t>::max() : sum;
}

}  // namespace

Aggregator::Aggregator(size_t max_distinct_stacks) : max_distinct_stacks_(max_distinct_stacks) {}

void Aggregator::Add(const ServiceKey& key, const StackSample& sample, int64_t count) {
  if (count <= 0) return;
  AddValues(key, sample, StackValues{.samples = count});
}

void Aggregator::AddOffCpu(const ServiceKey& key, const StackSample& sample, int64_t off_cpu_ns,
                           int64_t events) {
  if (off_cpu_ns <= 0 || events <= 0) return;
  AddValues(key, sample, StackValues{.off_cpu_ns = off_cpu_ns, .off_cpu_events = events});
}

void Aggregator::AddValues(const ServiceKey& key, const StackSample& sample,
                           const StackValues& values) {
  auto service = services_.find(key);
  if (service != services_.end()) {
    auto stack = service->second.find(sample);
    if (stack != service->second.end()) {
      StackValues& sum = stack->second;
      sum.samples = SaturatingAdd(sum.samples, values.samples);
      sum.off_cpu_ns = SaturatingAdd(sum.off_cpu_ns, values.off_cpu_ns);
      sum.off_cpu_events = SaturatingAdd(sum.off_cpu_events, values.off_cpu_events);
      return;
    }
  }
  if (distinct_stacks_ >= max_distinct_stacks_) {
    dropped_samples_ += static_cast<uint64_t>(values.samples + values.off_cpu_events);
    return;
  }
  if (service == services_.end()) service = services_.try_emplace(key).first;
  service->second.emplace(sample, values);
  ++distinct_stacks_;
}

std::vector<Aggregator::ServiceStacks> Aggregator::Drain() {
  std::vector<ServiceStacks> out;
  out.reserve(services_.size());
  while (!services_.empty()) {
    auto service_node = services_.extract(services_.begin());
    ServiceStacks& entry = out.emplace_back();
    entry.key = std::move(service_node.key());
    StackCounts& counts = service_node.mapped();
    entry.stacks.reserve(counts.size());
    while (!counts.empty()) {
      auto node = counts.extract(counts.begin());
      entry.total = SaturatingAdd(entry.total, node.mapped().samples);
      entry.off_cpu_total_ns = SaturatingAdd(entry.off_cpu_total_ns, node.mapped().off_cpu_ns);
      entry.stacks.emplace_back(std::move(node.key()), node.mapped());
    }
    std::sort(entry.stacks.begin(), entry.stacks.end(),
              [](const auto& a, const auto& b) { return StackLess(a.first, b.first); });
  }
  std::sort(out.begin(), out.end(),
            [](const ServiceStacks& a, const ServiceStacks& b) { return a.key < b.key; });
  distinct_stacks_ = 0;
  dropped_samples_ = 0;
  return out;
}

}  // namespace profkit::profile
