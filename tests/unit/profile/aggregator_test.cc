#include "profkit/profile/aggregator.h"

#include <gtest/gtest.h>

namespace profkit::profile {
namespace {

ServiceKey Service(std::string name) {
  return ServiceKey{.service = std::move(name), .env = "prod", .version = "1.0", .language = "cpp"};
}

StackSample Stack(uint32_t pid, std::vector<uint64_t> addresses) {
  StackSample s{.pid = pid, .tid = pid, .thread_name = "worker"};
  for (size_t i = 0; i < addresses.size(); ++i) {
    s.frames.push_back(Frame{.kind = FrameKind::kNative,
                             .is_return_address = i > 0,
                             .module_id = 1,
                             .address = addresses[i]});
  }
  return s;
}

TEST(AggregatorTest, CountsIdenticalStacks) {
  Aggregator agg;
  const StackSample a = Stack(10, {0x10, 0x20});
  const StackSample b = Stack(10, {0x10, 0x30});
  agg.Add(Service("api"), a);
  agg.Add(Service("api"), b);
  agg.Add(Service("api"), a, 4);
  EXPECT_EQ(agg.distinct_stacks(), 2u);

  const std::vector<Aggregator::ServiceStacks> out = agg.Drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, Service("api"));
  EXPECT_EQ(out[0].total, 6);
  ASSERT_EQ(out[0].stacks.size(), 2u);
  // Sorted: frames 0x10,0x20 before 0x10,0x30.
  EXPECT_EQ(out[0].stacks[0].first, a);
  EXPECT_EQ(out[0].stacks[0].second.samples, 5);
  EXPECT_EQ(out[0].stacks[1].first, b);
  EXPECT_EQ(out[0].stacks[1].second.samples, 1);
}

TEST(AggregatorTest, EveryFieldDistinguishesStacks) {
  Aggregator agg;
  const StackSample base = Stack(10, {0x10, 0x20});
  StackSample other_tid = base;
  other_tid.tid = 11;
  StackSample other_name = base;
  other_name.thread_name = "other";
  StackSample truncated = base;
  truncated.truncated = true;
  StackSample kernel = base;
  kernel.frames[0].kind = FrameKind::kKernel;
  StackSample other_module = base;
  other_module.frames[1].module_id = 2;
  for (const StackSample& s : {base, other_tid, other_name, truncated, kernel, other_module}) {
    agg.Add(Service("api"), s);
  }
  EXPECT_EQ(agg.distinct_stacks(), 6u);
}

TEST(AggregatorTest, SeparatesServicesAndSortsByKey) {
  Aggregator agg;
  const StackSample a = Stack(10, {0x10});
  agg.Add(Service("web"), a, 2);
  agg.Add(Service("api"), a, 3);
  ServiceKey api_staging = Service("api");
  api_staging.env = "staging";
  agg.Add(api_staging, a, 7);
  EXPECT_EQ(agg.distinct_stacks(), 3u);

  const std::vector<Aggregator::ServiceStacks> out = agg.Drain();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].key, Service("api"));
  EXPECT_EQ(out[0].total, 3);
  EXPECT_EQ(out[1].key, api_staging);
  EXPECT_EQ(out[1].total, 7);
  EXPECT_EQ(out[2].key, Service("web"));
  EXPECT_EQ(out[2].total, 2);
  for (const auto& service : out) {
    ASSERT_EQ(service.stacks.size(), 1u);
    EXPECT_EQ(service.stacks[0].first, a);
  }
}

TEST(AggregatorTest, BoundDropsNewStacksButCountsKnownOnes) {
  Aggregator agg(2);
  const StackSample a = Stack(1, {0x1});
  const StackSample b = Stack(2, {0x2});
  const StackSample c = Stack(3, {0x3});
  agg.Add(Service("api"), a);
  agg.Add(Service("web"), b);
  agg.Add(Service("api"), c, 3);    // new stack beyond the bound
  agg.Add(Service("other"), a, 2);  // new service beyond the bound
  agg.Add(Service("api"), a, 5);    // known stack: still counted
  EXPECT_EQ(agg.distinct_stacks(), 2u);
  EXPECT_EQ(agg.dropped_samples(), 5u);

  const std::vector<Aggregator::ServiceStacks> out = agg.Drain();
  ASSERT_EQ(out.size(), 2u);  // no empty bucket for "other"
  EXPECT_EQ(out[0].key, Service("api"));
  EXPECT_EQ(out[0].total, 6);
  EXPECT_EQ(out[1].key, Service("web"));
  EXPECT_EQ(out[1].total, 1);
}

TEST(AggregatorTest, DrainResetsEverything) {
  Aggregator agg(1);
  agg.Add(Service("api"), Stack(1, {0x1}));
  agg.Add(Service("api"), Stack(2, {0x2}));
  EXPECT_EQ(agg.dropped_samples(), 1u);
  EXPECT_EQ(agg.Drain().size(), 1u);
  EXPECT_EQ(agg.distinct_stacks(), 0u);
  EXPECT_EQ(agg.dropped_samples(), 0u);
  EXPECT_TRUE(agg.Drain().empty());

  // The bound applies afresh after a drain.
  agg.Add(Service("api"), Stack(2, {0x2}), 4);
  const std::vector<Aggregator::ServiceStacks> out = agg.Drain();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].stacks.size(), 1u);
  EXPECT_EQ(out[0].stacks[0].first, Stack(2, {0x2}));
  EXPECT_EQ(out[0].total, 4);
}

TEST(AggregatorTest, IgnoresNonPositiveCounts) {
  Aggregator agg;
  agg.Add(Service("api"), Stack(1, {0x1}), 0);
  agg.Add(Service("api"), Stack(1, {0x1}), -3);
  EXPECT_EQ(agg.distinct_stacks(), 0u);
  EXPECT_TRUE(agg.Drain().empty());
}

TEST(AggregatorTest, OffCpuWaitsAddUpBesideSamplesOfTheSameStack) {
  Aggregator agg;
  agg.Add(Service("api"), Stack(1, {0x1}), 2);
  agg.AddOffCpu(Service("api"), Stack(1, {0x1}), 300, 1);
  agg.AddOffCpu(Service("api"), Stack(1, {0x1}), 4'000, 10);  // a 1-in-10 record, weighted
  agg.AddOffCpu(Service("api"), Stack(1, {0x2}), 50, 1);
  EXPECT_EQ(agg.distinct_stacks(), 2u);
  const std::vector<Aggregator::ServiceStacks> out = agg.Drain();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].stacks.size(), 2u);
  EXPECT_EQ(out[0].stacks[0].second,
            (StackValues{.samples = 2, .off_cpu_ns = 4'300, .off_cpu_events = 11}));
  EXPECT_EQ(out[0].stacks[1].second, (StackValues{.off_cpu_ns = 50, .off_cpu_events = 1}));
  EXPECT_EQ(out[0].total, 2) << "total counts CPU samples";
  EXPECT_EQ(out[0].off_cpu_total_ns, 4'350);
}

TEST(AggregatorTest, OffCpuIgnoresNonPositiveValuesAndSaturates) {
  Aggregator agg(1);
  agg.AddOffCpu(Service("api"), Stack(1, {0x1}), 0, 1);
  agg.AddOffCpu(Service("api"), Stack(1, {0x1}), 100, 0);
  agg.AddOffCpu(Service("api"), Stack(1, {0x1}), -5, 1);
  EXPECT_EQ(agg.distinct_stacks(), 0u);
  agg.AddOffCpu(Service("api"), Stack(1, {0x1}), INT64_MAX - 1, 1);
  agg.AddOffCpu(Service("api"), Stack(1, {0x1}), 10, 1);
  agg.AddOffCpu(Service("api"), Stack(2, {0x2}), 10, 7);  // beyond the bound
  EXPECT_EQ(agg.dropped_samples(), 7u) << "dropped waits count their events";
  const std::vector<Aggregator::ServiceStacks> out = agg.Drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].stacks[0].second.off_cpu_ns, INT64_MAX);
  EXPECT_EQ(out[0].off_cpu_total_ns, INT64_MAX);
}

}  // namespace
}  // namespace profkit::profile
