#include "profkit/pull/go_round.h"

#include <gtest/gtest.h>

#include "profkit/common/compression.h"
#include "profkit/profile/pprof_builder.h"
#include "pull_test_util.h"

namespace profkit::pull {

using config::GoProfileType;
using config::GoTarget;

namespace {

using testing::BuildProfile;

const std::vector<std::string> kHeapTypes = {"alloc_objects", "alloc_space", "inuse_objects",
                                             "inuse_space"};

GoTarget Target() {
  GoTarget target;
  target.url = "http://localhost:6060";
  target.service = "go-demo";
  target.env = "dev";
  target.version = "1.0";
  target.tags = {{"tag1", "val1"}};
  return target;
}

RawRound Round(int64_t heap_allocs, int64_t goroutines, int64_t t) {
  RawRound round;
  round.start_unix_nanos = t;
  round.end_unix_nanos = t + 10;
  round.profiles[GoProfileType::kCpu].body =
      *GzipCompress(BuildProfile({"samples", "cpu"}, {{{"spin", "main"}, {3, 30}, ""}}, t));
  round.profiles[GoProfileType::kHeap].body = *GzipCompress(
      BuildProfile(kHeapTypes, {{{"alloc", "main"}, {heap_allocs, 8 * heap_allocs, 1, 8}, ""}}, t));
  // Uncompressed, as some servers answer: packaged gzip anyway.
  round.profiles[GoProfileType::kGoroutine].body =
      BuildProfile({"goroutine"}, {{{"park"}, {goroutines - 1}, ""}, {{"main"}, {1}, ""}}, t);
  return round;
}

std::vector<std::string> Names(const forward::ProfileUpload& upload) {
  std::vector<std::string> names;
  for (const auto& a : upload.attachments) names.push_back(a.name);
  return names;
}

TEST(GoRoundTest, FirstRoundStoresDeltasSecondSendsThem) {
  DeltaState state;
  auto first = state.Process(Target(), Round(10, 5, 1000));
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(Names(first->upload), (std::vector<std::string>{"cpu.pprof", "goroutines.pprof"}));
  EXPECT_EQ(first->num_goroutine, 5);
  EXPECT_EQ(first->upload.language, "golang");
  EXPECT_EQ(first->upload.profiler, "pprof");
  EXPECT_EQ(first->upload.format, "pprof");
  EXPECT_EQ(first->upload.service, "go-demo");
  EXPECT_EQ(first->upload.start_unix_nanos, 1000);
  EXPECT_EQ(first->upload.end_unix_nanos, 1010);
  EXPECT_EQ(forward::BuildTagsProfiler(first->upload),
            "service:go-demo,env:dev,version:1.0,tag1:val1");

  auto second = state.Process(Target(), Round(25, 6, 2000));
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(Names(second->upload),
            (std::vector<std::string>{"cpu.pprof", "delta-heap.pprof", "goroutines.pprof"}));
  EXPECT_EQ(second->num_goroutine, 6);
  for (const auto& attachment : second->upload.attachments) {
    ASSERT_GE(attachment.data.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(attachment.data[0]), 0x1f) << attachment.name;
    EXPECT_TRUE(profile::ParsePprof(attachment.data, 1 << 20).ok()) << attachment.name;
  }
  auto heap = profile::ParsePprof(second->upload.attachments[1].data, 1 << 20);
  ASSERT_TRUE(heap.ok());
  ASSERT_EQ(heap->sample_size(), 1);
  EXPECT_EQ(heap->sample(0).value(0), 15);      // alloc_objects: 25 − 10
  EXPECT_EQ(heap->sample(0).value(1), 8 * 15);  // alloc_space
  EXPECT_EQ(heap->sample(0).value(2), 1);       // inuse_objects: absolute
  EXPECT_EQ(heap->duration_nanos(), 1000);
}

TEST(GoRoundTest, GarbageFailsAndKeepsThePreviousState) {
  DeltaState state;
  ASSERT_TRUE(state.Process(Target(), Round(10, 5, 1000)).ok());
  RawRound bad = Round(20, 5, 2000);
  bad.profiles[GoProfileType::kGoroutine].body = "<html>not a profile</html>";
  auto failed = state.Process(Target(), bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("goroutine profile"), std::string::npos);
  // The failed round did not replace the stored heap profile: the delta is against round 1.
  auto next = state.Process(Target(), Round(30, 5, 3000));
  ASSERT_TRUE(next.ok());
  auto heap = profile::ParsePprof(next->upload.attachments[1].data, 1 << 20);
  ASSERT_TRUE(heap.ok());
  EXPECT_EQ(heap->sample(0).value(0), 20);
}

TEST(GoRoundTest, AttachmentNamesMatchDdTraceGo) {
  EXPECT_EQ(AttachmentName(GoProfileType::kCpu), "cpu.pprof");
  EXPECT_EQ(AttachmentName(GoProfileType::kHeap), "delta-heap.pprof");
  EXPECT_EQ(AttachmentName(GoProfileType::kMutex), "delta-mutex.pprof");
  EXPECT_EQ(AttachmentName(GoProfileType::kBlock), "delta-block.pprof");
  EXPECT_EQ(AttachmentName(GoProfileType::kGoroutine), "goroutines.pprof");
}

TEST(GoRoundTest, CpuDurationFitsTheInterval) {
  EXPECT_EQ(CpuProfileDuration(std::chrono::seconds(10)), std::chrono::seconds(5));
  EXPECT_EQ(CpuProfileDuration(std::chrono::seconds(60)), std::chrono::seconds(55));
  EXPECT_EQ(CpuProfileDuration(std::chrono::seconds(600)), std::chrono::seconds(60));
}

}  // namespace
}  // namespace profkit::pull
