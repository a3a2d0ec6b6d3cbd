// A real capture (tests/data/replay/README.md) replayed through the same SamplingLoop and
// SamplePipeline `record` uses gives the profile the live session wrote.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "profkit/common/file_util.h"
#include "profkit/pipeline/sampling_loop.h"
#include "profkit/sampling/replay_source.h"
#include "testing/temp_dir.h"

namespace profkit::pipeline {
namespace {

constexpr char kCapture[] = PROFKIT_TEST_DATA_DIR "/replay/sha256sum.pkrf";
constexpr char kLiveProfile[] = PROFKIT_TEST_DATA_DIR "/replay/sha256sum.live.txt";

// Collapsed lines without their kernel frames ("..._[k]"), whose addresses move with every boot;
// stacks that become equal are summed.
std::map<std::string, int64_t> UserStacks(const std::string& collapsed) {
  std::map<std::string, int64_t> stacks;
  std::istringstream lines(collapsed);
  for (std::string line; std::getline(lines, line);) {
    const size_t space = line.rfind(' ');
    std::string user;
    std::istringstream frames(line.substr(0, space));
    for (std::string frame; std::getline(frames, frame, ';');) {
      if (frame.ends_with("_[k]")) continue;
      user += (user.empty() ? "" : ";") + frame;
    }
    stacks[user] += std::stoll(line.substr(space + 1));
  }
  return stacks;
}

TEST(ReplayTest, CapturedSessionReplaysToTheLiveProfile) {
  testing::TempDir dir;
  auto source = sampling::ReplaySource::Open(kCapture, dir.path() + "/proc");
  ASSERT_TRUE(source.ok()) << source.status().message();
  // As `profkit record` builds it; the capture holds only the recorded processes' samples.
  SamplePipeline pipeline(PipelineOptions{
      .proc_root = dir.path() + "/proc",
      .kallsyms_path = dir.path() + "/no-kallsyms",
      .fixed_service = profile::ServiceKey{.service = "profkit-record", .language = "cpp"},
      // The capture named frames from the modules' own symbols; a host with libc6-dbg would
      // name libc's internal functions from its debug file.
      .symbols = {.debug_dirs = {}, .debuginfod_urls = ""},
      .process_memory = [](uint32_t) -> std::unique_ptr<python::MemoryReader> {
        return std::make_unique<NoProcessMemory>();
      }});
  pipeline.SetPythonRegistry(source->get());
  std::string replayed;
  {
    SamplingLoop loop(**source, pipeline, SamplingLoopOptions{.poll_timeout = {}},
                      [&](const FlushBatch& batch) { replayed = pipeline.BuildCollapsed(batch); });
    ASSERT_TRUE(loop.Run([] { return false; }).ok());
  }
  pipeline.SetPythonRegistry(nullptr);
  auto live = ReadFileBounded(kLiveProfile, 1 << 20);
  ASSERT_TRUE(live.ok()) << live.status().message();
  const std::map<std::string, int64_t> expected = UserStacks(*live);
  EXPECT_EQ(UserStacks(replayed), expected)
      << "different /usr/bin/sha256sum or libc than at capture? See tests/data/replay/README.md";
  EXPECT_GT(expected.size(), 10u);
  EXPECT_EQ((*source)->counters().decode_errors, 0u);
}

}  // namespace
}  // namespace profkit::pipeline
