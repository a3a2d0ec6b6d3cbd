#include "profkit/pipeline/sampling_loop.h"

#include <gtest/gtest.h>

#include <mutex>

#include "stack_functions.h"
#include "testing/fake_sample_source.h"
#include "testing/self_process_tree.h"

namespace profkit::pipeline {
namespace {

using profkit::testing::FakeSampleSource;
using std::chrono::milliseconds;

sampling::Record LeafSample() {
  return sampling::SampleRecord{
      .pid = 100,
      .tid = 100,
      .comm = "job",
      .user_ips = {testing::Address(PkTestLeaf) + 4, testing::Inside(PkTestCaller)}};
}

class SamplingLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tree_.ok());
    tree_.AddProcess(100, 1, "job");
  }

  int64_t Total(const std::vector<FlushBatch>& batches) {
    int64_t total = 0;
    for (const FlushBatch& batch : batches) {
      for (const auto& stacks : batch.stacks) total += stacks.total;
    }
    return total;
  }

  testing::SelfProcessTree tree_;
  SamplePipeline pipeline_{
      PipelineOptions{.proc_root = tree_.root(), .kallsyms_path = tree_.root() + "/no-kallsyms"}};
  std::mutex mutex_;
  std::vector<FlushBatch> flushed_;
};

TEST_F(SamplingLoopTest, ExhaustedSourceEndsWithOneFinalFlushOnTheWorker) {
  FakeSampleSource source({{LeafSample(), LeafSample()}, {LeafSample()}});
  std::string collapsed;
  SamplingLoop loop(source, pipeline_, SamplingLoopOptions{.poll_timeout = milliseconds(0)},
                    [&](const FlushBatch& batch) {
                      collapsed = pipeline_.BuildCollapsed(batch);
                      const std::lock_guard lock(mutex_);
                      flushed_.push_back(batch);
                    });
  ASSERT_TRUE(loop.Run([] { return false; }).ok());
  ASSERT_EQ(flushed_.size(), 1u);
  EXPECT_EQ(Total(flushed_), 3);
  EXPECT_EQ(collapsed, "PkTestCaller;PkTestLeaf 3\n");
  EXPECT_EQ(loop.counters().flushes, 1u);
  EXPECT_EQ(loop.counters().records, 3u);
}

TEST_F(SamplingLoopTest, ReaderKeepsReadingWhileASlowFlushRuns) {
  FakeSampleSource source({{LeafSample()}}, /*endless=*/true);
  bool read_during_flush = false;
  SamplingLoop loop(source, pipeline_,
                    SamplingLoopOptions{.poll_timeout = milliseconds(0),
                                        .flush_interval = std::chrono::nanoseconds(1)},
                    [&](const FlushBatch& batch) {
                      const std::lock_guard lock(mutex_);
                      if (flushed_.empty()) {
                        // A deliberately slow first flush: it ends only once the reader has polled
                        // 50 more times, which it can only do if it does not wait for this flush.
                        read_during_flush = source.AwaitPolls(source.polls() + 50);
                        source.Finish();
                      }
                      flushed_.push_back(batch);
                    });
  ASSERT_TRUE(loop.Run([] { return false; }).ok());
  EXPECT_TRUE(read_during_flush);
  EXPECT_GE(loop.counters().merged_intervals, 1u) << "interval ends during the flush were merged";
  // Nothing read meanwhile is lost: every sample is in some flushed batch.
  EXPECT_EQ(Total(flushed_), static_cast<int64_t>(source.counters().samples));
  EXPECT_GE(flushed_.size(), 2u);
}

TEST_F(SamplingLoopTest, StopRequestDrainsAndFlushesTheLastInterval) {
  FakeSampleSource source({{LeafSample()}}, /*endless=*/true);
  int flushes = 0;
  SamplingLoop loop(source, pipeline_, SamplingLoopOptions{.poll_timeout = milliseconds(0)},
                    [&](const FlushBatch&) { ++flushes; });
  ASSERT_TRUE(loop.Run([&] { return source.polls() >= 10; }).ok());
  EXPECT_EQ(flushes, 1);
  EXPECT_EQ(source.polls(), 11) << "ten reads, then one drain";
  EXPECT_EQ(pipeline_.counters().samples, 11u);
}

}  // namespace
}  // namespace profkit::pipeline
