#include "profkit/pipeline/sample_pipeline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "stack_functions.h"
#include "testing/fake_unwind_maps.h"
#include "testing/self_process_tree.h"

namespace profkit::pipeline {
namespace {

using profkit::testing::Address;
using profkit::testing::Inside;

sampling::SampleRecord Sample(uint32_t pid, std::vector<uint64_t> user_ips,
                              std::vector<uint64_t> stack_top = {}) {
  return sampling::SampleRecord{.pid = pid,
                                .tid = pid,
                                .comm = "job",
                                .user_ips = std::move(user_ips),
                                .user_stack_top = std::move(stack_top)};
}

sampling::ProcessEventRecord Event(sampling::ProcessEventRecord::Kind kind, uint32_t pid) {
  return sampling::ProcessEventRecord{.kind = kind, .pid = pid, .ppid = 1, .comm = "job"};
}

class SamplePipelineTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(tree_.ok()) << "the test binary's code mapping"; }

  SamplePipeline& pipeline() { return pipeline_; }
  std::string Collapsed(const FlushBatch& batch) { return pipeline_.BuildCollapsed(batch); }

  testing::SelfProcessTree tree_;
  SamplePipeline pipeline_{
      PipelineOptions{.proc_root = tree_.root(), .kallsyms_path = tree_.root() + "/no-kallsyms"}};
};

TEST_F(SamplePipelineTest, NativeStacksSymbolizeAndAggregatePerService) {
  tree_.AddProcess(100, 1, "job", std::string("DD_SERVICE=billing\0", 19));
  const auto stack =
      Sample(100, {Address(PkTestLeaf) + 4, Inside(PkTestCaller), Inside(PkTestOuter)});
  pipeline().Handle(stack);
  pipeline().Handle(stack);
  const FlushBatch batch = pipeline().EndInterval({});
  ASSERT_EQ(batch.stacks.size(), 1u);
  EXPECT_EQ(batch.stacks[0].key.service, "billing");
  EXPECT_EQ(batch.stacks[0].total, 2);
  EXPECT_EQ(Collapsed(batch), "PkTestOuter;PkTestCaller;PkTestLeaf 2\n");
  ASSERT_EQ(pipeline().BuildPprof(batch).size(), 1u);
  EXPECT_EQ(pipeline().counters().profiles_built, 1u);
}

TEST_F(SamplePipelineTest, FramelessLeafGetsItsCallerFromTheStackTop) {
  tree_.AddProcess(100, 1, "job");
  // Interrupted at PkTestLeaf's first instruction: its frame is not set up, so the frame-pointer
  // walk went from the leaf straight to PkTestCaller's caller; the return address into
  // PkTestCaller is the word at the stack pointer (the CFI says so).
  pipeline().Handle(
      Sample(100, {Address(PkTestLeaf), Inside(PkTestOuter)}, {Inside(PkTestCaller)}));
  EXPECT_EQ(Collapsed(pipeline().EndInterval({})), "PkTestOuter;PkTestCaller;PkTestLeaf 1\n");
  EXPECT_EQ(pipeline().counters().recovered_leaf_callers, 1u);
}

// Once a sample reached the file, its unwind table is built, and the next process's frameless leaf
// in it finds its rule there (read back from the maps) instead of in the file's CFI.
TEST_F(SamplePipelineTest, FramelessLeafRuleComesFromTheFilesTableOnceLoaded) {
  testing::FakeUnwindMaps maps(1 << 20, 1 << 16);
  pipeline().SetUnwindMaps(&maps);
  tree_.AddProcess(100, 1, "job");
  tree_.AddProcess(200, 1, "job");
  const auto at_leaf_entry = [](uint32_t pid) {
    return Sample(pid, {Address(PkTestLeaf), Inside(PkTestOuter)}, {Inside(PkTestCaller)});
  };
  pipeline().Handle(at_leaf_entry(100));
  EXPECT_EQ(pipeline().counters().leaf_rules_from_tables, 0u) << "no table before the sample";
  EXPECT_EQ(pipeline().native_counters().cfi_lookups, 1u);
  // The sample requested the table of the test binary (its leaf's file): await the builder.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (pipeline().unwind_counters()->files == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(pipeline().unwind_counters()->files, 1u);

  pipeline().Handle(at_leaf_entry(200));
  EXPECT_EQ(pipeline().counters().leaf_rules_from_tables, 1u);
  EXPECT_EQ(pipeline().native_counters().cfi_lookups, 1u) << "the CFI was not asked again";
  EXPECT_EQ(pipeline().counters().recovered_leaf_callers, 2u);
  EXPECT_EQ(Collapsed(pipeline().EndInterval({})), "PkTestOuter;PkTestCaller;PkTestLeaf 2\n");
  pipeline().SetUnwindMaps(nullptr);  // the store goes before `maps`
}

TEST_F(SamplePipelineTest, UnwoundStackWithAFramePointerLeafGetsItsCallerToo) {
  tree_.AddProcess(100, 1, "job");
  // The BPF unwinder found no row for the leaf (its library's table was not loaded yet) and
  // stepped by frame pointer; it sent the stack top for this case (bpf/native_unwinder.bpf.h).
  sampling::SampleRecord sample =
      Sample(100, {Address(PkTestLeaf), Inside(PkTestOuter)}, {Inside(PkTestCaller)});
  sample.user_stack_unwound = true;
  pipeline().Handle(sample);
  EXPECT_EQ(Collapsed(pipeline().EndInterval({})), "PkTestOuter;PkTestCaller;PkTestLeaf 1\n");
}

TEST_F(SamplePipelineTest, SamplesOfAVanishedUnknownProcessAreOrphans) {
  pipeline().Handle(Sample(999, {Address(PkTestLeaf) + 4}));
  EXPECT_EQ(pipeline().counters().orphan_samples, 1u);
  EXPECT_TRUE(pipeline().EndInterval({}).stacks.empty());
}

TEST_F(SamplePipelineTest, ExitedProcessSymbolizesInItsFlushAndIsReleasedAfter) {
  using Kind = sampling::ProcessEventRecord::Kind;
  tree_.AddProcess(100, 1, "short");
  tree_.AddProcess(101, 1, "later");
  pipeline().Handle(Event(Kind::kExec, 100));
  pipeline().Handle(Event(Kind::kExec, 101));
  pipeline().Handle(Sample(100, {Address(PkTestLeaf) + 4, Inside(PkTestCaller)}));
  pipeline().Handle(Event(Kind::kExit, 100));
  tree_.RemoveProcess(100);  // gone from /proc, as a real exited process
  const FlushBatch first = pipeline().EndInterval({});
  // Exits in the next interval belong to the next flush.
  pipeline().Handle(Event(Kind::kExit, 101));
  tree_.RemoveProcess(101);

  EXPECT_EQ(Collapsed(first), "PkTestCaller;PkTestLeaf 1\n") << "still symbolizes after exit";
  EXPECT_EQ(pipeline().process_counters().processes, 2u);
  pipeline().CollectFlushed(first.interval);
  EXPECT_EQ(pipeline().process_counters().processes, 1u) << "101 exited after the swap";
  EXPECT_EQ(pipeline().process_counters().collected, 1u);

  const FlushBatch second = pipeline().EndInterval({});
  pipeline().CollectFlushed(second.interval);
  EXPECT_EQ(pipeline().process_counters().processes, 0u);
  // A sample after the release finds nothing: the process is gone.
  pipeline().Handle(Sample(100, {Address(PkTestLeaf) + 4}));
  EXPECT_EQ(pipeline().counters().orphan_samples, 1u);
}

TEST_F(SamplePipelineTest, LateSampleOfAnExitedProcessKeepsItsModuleUntilItsFlush) {
  using Kind = sampling::ProcessEventRecord::Kind;
  tree_.AddProcess(100, 1, "short");
  pipeline().Handle(Event(Kind::kExec, 100));
  pipeline().Handle(Event(Kind::kExit, 100));
  const FlushBatch first = pipeline().EndInterval({});
  // Taken on another CPU just before the exit, read after it: it lands in the next interval.
  pipeline().Handle(Sample(100, {Address(PkTestLeaf) + 4, Inside(PkTestCaller)}));
  const FlushBatch second = pipeline().EndInterval({});
  pipeline().CollectFlushed(first.interval);  // while the second flush is still to run
  EXPECT_EQ(pipeline().process_counters().processes, 0u);
  EXPECT_EQ(Collapsed(second), "PkTestCaller;PkTestLeaf 1\n") << "its module was kept";
  pipeline().CollectFlushed(second.interval);
}

TEST_F(SamplePipelineTest, FixedServiceAlwaysYieldsItsProfile) {
  SamplePipeline fixed(PipelineOptions{.proc_root = tree_.root(),
                                       .kallsyms_path = tree_.root() + "/no-kallsyms",
                                       .fixed_service = profile::ServiceKey{.service = "rec"}});
  const FlushBatch batch = fixed.EndInterval({});
  ASSERT_EQ(batch.stacks.size(), 1u);
  EXPECT_EQ(batch.stacks[0].key.service, "rec");
  EXPECT_EQ(batch.stacks[0].total, 0);
  EXPECT_EQ(fixed.BuildCollapsed(batch), "");
}

sampling::SampleRecord SwitchOut(uint32_t tid, uint64_t ktime, std::vector<uint64_t> user_ips,
                                 uint32_t events = 1) {
  sampling::SampleRecord sample = Sample(100, std::move(user_ips));
  sample.tid = tid;
  sample.ktime_ns = ktime;
  sample.off_cpu = true;
  sample.off_cpu_events = events;
  return sample;
}

sampling::OffCpuEndRecord WaitEnd(uint32_t tid, uint64_t ktime, uint64_t off_cpu_ns,
                                  uint32_t events = 1) {
  return sampling::OffCpuEndRecord{.pid = 100,
                                   .tid = tid,
                                   .switch_out_ktime_ns = ktime,
                                   .off_cpu_ns = off_cpu_ns,
                                   .off_cpu_events = events};
}

TEST_F(SamplePipelineTest, OffCpuStacksCountOnlyWhenTheirWaitEnds) {
  tree_.AddProcess(100, 1, "job");
  const std::vector<uint64_t> waiting = {Address(PkTestLeaf) + 4, Inside(PkTestCaller)};
  const std::vector<uint64_t> other = {Address(PkTestLeaf) + 4, Inside(PkTestOuter)};
  pipeline().Handle(Sample(100, waiting));                  // it ran here once
  pipeline().Handle(SwitchOut(101, 1'000, other));          // a short wait: no end follows
  pipeline().Handle(SwitchOut(101, 2'000, waiting, 10));    // replaces it
  pipeline().Handle(WaitEnd(101, 1'000, 5'000'000));        // stale: names the replaced one
  pipeline().Handle(WaitEnd(101, 2'000, 300'000'000, 10));  // ends the wait of 2'000
  pipeline().Handle(WaitEnd(101, 2'000, 300'000'000, 10));  // a duplicate: nothing pending
  pipeline().Handle(WaitEnd(555, 2'000, 1'000, 1));         // a thread never seen leaving
  pipeline().Handle(SwitchOut(102, 3'000, other));          // still waiting at the flush
  FlushBatch batch = pipeline().EndInterval({.sample_period_ns = 1'000});
  ASSERT_EQ(batch.stacks.size(), 1u);
  EXPECT_EQ(batch.stacks[0].total, 1);
  EXPECT_EQ(batch.stacks[0].off_cpu_total_ns, 300'000'000);
  EXPECT_EQ(pipeline().counters().off_cpu_waits, 1u);
  EXPECT_EQ(pipeline().BuildCollapsed(batch, StackValueType::kOffCpu),
            "PkTestCaller;PkTestLeaf 300000000\n");
  EXPECT_EQ(pipeline().BuildCollapsed(batch, StackValueType::kOffCpuEvents),
            "PkTestCaller;PkTestLeaf 10\n");

  // The wait that was pending at the flush ends in the next interval.
  pipeline().Handle(WaitEnd(102, 3'000, 7'000'000));
  batch = pipeline().EndInterval({});
  ASSERT_EQ(batch.stacks.size(), 1u);
  EXPECT_EQ(batch.stacks[0].off_cpu_total_ns, 7'000'000);
}

TEST_F(SamplePipelineTest, AnExitEndsThePendingWaitsOfItsThreads) {
  using Kind = sampling::ProcessEventRecord::Kind;
  tree_.AddProcess(100, 1, "job");
  pipeline().Handle(SwitchOut(101, 1'000, {Address(PkTestLeaf) + 4}));
  pipeline().Handle(Event(Kind::kExit, 100));
  pipeline().Handle(WaitEnd(101, 1'000, 5'000'000));
  EXPECT_EQ(pipeline().counters().off_cpu_waits, 0u);
}

}  // namespace
}  // namespace profkit::pipeline
