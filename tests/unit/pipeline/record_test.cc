// `profkit record` with a scripted source: the target filter keeps only the target's samples and
// the output file holds them, symbolized from the test process's own /proc entries.
#include "profkit/record/recorder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "profkit/common/file_util.h"
#include "profkit/profile/pprof_builder.h"
#include "profkit/record/convert.h"
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

TEST(ConvertTest, WritesTheViewOfAPprof) {
  testing::TempDir dir;
  profile::PprofBuilder builder(profile::ProfileHeader{.sample_types = {{"samples", "count"}}});
  const uint64_t location = builder.AddLocation(
      {.lines = {{.function_name = "handler", .filename = "/srv/app.py", .line = 7}}});
  const uint64_t stack[] = {location};
  const int64_t values[] = {4};
  builder.AddSample(stack, values, {});
  ASSERT_TRUE(WriteFileAtomically(dir.path() + "/in.pprof", *builder.SerializeGzip()).ok());
  Result<ConvertSummary> summary = ConvertProfile({.input = dir.path() + "/in.pprof",
                                                   .output = dir.path() + "/out.txt",
                                                   .format = profile::ViewFormat::kCollapsed});
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->total, 4);
  EXPECT_EQ(*ReadFileBounded(dir.path() + "/out.txt", 1 << 20), "handler (/srv/app.py:7) 4\n");
}

TEST(ConvertTest, WritesTheChosenSampleType) {
  testing::TempDir dir;
  profile::PprofBuilder builder(profile::ProfileHeader{
      .sample_types = {{"samples", "count"}, {"off-cpu", "nanoseconds"}, {"wall", "nanoseconds"}}});
  const uint64_t ran = builder.AddLocation({.lines = {{.function_name = "work"}}});
  const uint64_t waited = builder.AddLocation({.lines = {{.function_name = "wait"}}});
  const uint64_t ran_stack[] = {ran};
  const uint64_t waited_stack[] = {waited};
  const int64_t ran_values[] = {3, 0, 30};
  const int64_t waited_values[] = {0, 500, 500};
  builder.AddSample(ran_stack, ran_values, {});
  builder.AddSample(waited_stack, waited_values, {});
  ASSERT_TRUE(WriteFileAtomically(dir.path() + "/in.pprof", *builder.SerializeGzip()).ok());
  const auto convert = [&](std::string sample_type) {
    return ConvertProfile({.input = dir.path() + "/in.pprof",
                           .output = dir.path() + "/out.txt",
                           .format = profile::ViewFormat::kCollapsed,
                           .sample_type = std::move(sample_type)});
  };
  ASSERT_TRUE(convert("off-cpu").ok());
  EXPECT_EQ(*ReadFileBounded(dir.path() + "/out.txt", 1 << 20), "wait 500\n");
  ASSERT_TRUE(convert("wall").ok());
  EXPECT_EQ(*ReadFileBounded(dir.path() + "/out.txt", 1 << 20), "wait 500\nwork 30\n");
  ASSERT_TRUE(convert("").ok());
  EXPECT_EQ(*ReadFileBounded(dir.path() + "/out.txt", 1 << 20), "work 3\n");
  Result<ConvertSummary> unknown = convert("cpu");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "the profile has no sample type 'cpu'; it has: samples, off-cpu, wall");
}

TEST(ConvertTest, GarbageIsAnErrorAndWritesNothing) {
  testing::TempDir dir;
  const std::string output = dir.path() + "/out.svg";
  for (const std::string& garbage : {std::string("not a profile"), std::string("\x1f\x8b\x08\x00"),
                                     std::string("\x0a\xff\xff\xff\xff\x0f")}) {
    ASSERT_TRUE(WriteFileAtomically(dir.path() + "/in.pprof", garbage).ok());
    Result<ConvertSummary> summary =
        ConvertProfile({.input = dir.path() + "/in.pprof", .output = output});
    ASSERT_FALSE(summary.ok());
    EXPECT_NE(summary.status().message().find("is not a pprof profile profkit can read"),
              std::string::npos)
        << summary.status().message();
  }
  Result<ConvertSummary> missing =
      ConvertProfile({.input = dir.path() + "/none", .output = output});
  ASSERT_FALSE(missing.ok());
  EXPECT_FALSE(std::filesystem::exists(output));
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
