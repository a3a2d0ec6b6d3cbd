// `profkit record` with a scripted source: the target filter keeps only the target's samples and
// the output file holds them, symbolized from the test process's own /proc entries.
#include "profkit/record/recorder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "profkit/common/file_util.h"
#include "stack_functions.h"
#include "testing/fake_sample_source.h"
#include "testing/temp_dir.h"

namespace profkit::record {
namespace {

sampling::Record SampleOf(uint32_t pid) {
  return sampling::SampleRecord{
      .pid = pid,
      .tid = pid,
      .comm = "job",
      .user_ips = {testing::Address(PkTestLeaf) + 4, testing::Inside(PkTestCaller)}};
}

TEST(RecordTest, WritesOnlyTheTargetsSamples) {
  testing::TempDir dir;
  const auto self = static_cast<uint32_t>(getpid());
  // pid 1 (init) is alive but not a target nor our ancestor's descendant.
  const std::vector<std::vector<sampling::Record>> script = {{SampleOf(self), SampleOf(1)},
                                                             {SampleOf(self)}};
  const sampling::SampleSourceFactory sources = [&](const sampling::SamplerOptions& options)
      -> Result<std::unique_ptr<sampling::SampleSource>> {
    EXPECT_EQ(options.sample_rate_hz, 49);
    return std::unique_ptr<sampling::SampleSource>(
        std::make_unique<testing::FakeSampleSource>(script));
  };
  const RecordOptions options{.pids = {self},
                              .sample_rate_hz = 49,
                              .view = profile::ViewFormat::kCollapsed,
                              .output = dir.path() + "/out.txt"};
  std::atomic<bool> stop{false};
  Result<RecordSummary> summary = Record(options, stop, sources);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->output_path, options.output);
  EXPECT_EQ(summary->samples, 2u);
  EXPECT_EQ(*ReadFileBounded(options.output, 1 << 20), "PkTestCaller;PkTestLeaf 2\n");
}

TEST(RecordTest, WritesAFlameGraphTitledWithTheTargets) {
  testing::TempDir dir;
  const auto self = static_cast<uint32_t>(getpid());
  const std::vector<std::vector<sampling::Record>> script = {{SampleOf(self), SampleOf(self)}};
  const sampling::SampleSourceFactory sources =
      [&](const sampling::SamplerOptions&) -> Result<std::unique_ptr<sampling::SampleSource>> {
    return std::unique_ptr<sampling::SampleSource>(
        std::make_unique<testing::FakeSampleSource>(script));
  };
  const RecordOptions options{
      .pids = {self}, .view = profile::ViewFormat::kSvg, .output = dir.path() + "/out.svg"};
  std::atomic<bool> stop{false};
  Result<RecordSummary> summary = Record(options, stop, sources);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  const std::string svg = *ReadFileBounded(options.output, 1 << 20);
  EXPECT_NE(svg.find(fmt::format(">pid {} · ", self)), std::string::npos);
  EXPECT_NE(svg.find("at 99 Hz · 2 samples</text>"), std::string::npos);
  EXPECT_NE(svg.find("<title>PkTestLeaf\n"), std::string::npos);
}

TEST(RecordTest, SourceErrorsReachTheCaller) {
  const sampling::SampleSourceFactory sources =
      [](const sampling::SamplerOptions&) -> Result<std::unique_ptr<sampling::SampleSource>> {
    return Status::Unsupported("built without BPF");
  };
  std::atomic<bool> stop{false};
  Result<RecordSummary> summary =
      Record(RecordOptions{.pids = {static_cast<uint32_t>(getpid())}}, stop, sources);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().message(), "built without BPF");
}

}  // namespace
}  // namespace profkit::record
