#include "profkit/forward/local_sink.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "profkit/common/file_util.h"
#include "testing/temp_dir.h"

namespace profkit::forward {
namespace {

class LocalSinkTest : public ::testing::Test {
 protected:
  static ProfileUpload Upload(std::string service) {
    ProfileUpload upload;
    upload.service = std::move(service);
    upload.end_unix_nanos = 1'700'000'060'123'456'789;  // 20231114T221420Z
    upload.attachments = {{"cpu.pprof", "application/octet-stream", "cpu-bytes"}};
    return upload;
  }

  testing::TempDir temp_dir_;
  const std::string dir_ = temp_dir_.path();
};

TEST_F(LocalSinkTest, WritesUnderServiceWithCollisionSuffix) {
  LocalSink sink(dir_);
  EXPECT_EQ(*sink.Write(Upload("api")), dir_ + "/api/20231114T221420Z.pprof");
  EXPECT_EQ(*sink.Write(Upload("api")), dir_ + "/api/20231114T221420Z-1.pprof");
  EXPECT_EQ(*sink.Write(Upload("api")), dir_ + "/api/20231114T221420Z-2.pprof");
  EXPECT_EQ(*ReadFileBounded(dir_ + "/api/20231114T221420Z-1.pprof", 100), "cpu-bytes");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ + "/api"), {}), 3);
}

TEST_F(LocalSinkTest, SeveralAttachmentsShareAStem) {
  LocalSink sink(dir_);
  ProfileUpload upload = Upload("api");
  upload.attachments.push_back({"heap.pprof", "application/octet-stream", "heap-bytes"});
  EXPECT_EQ(*sink.Write(upload), dir_ + "/api/20231114T221420Z");
  EXPECT_EQ(*ReadFileBounded(dir_ + "/api/20231114T221420Z.cpu.pprof", 100), "cpu-bytes");
  EXPECT_EQ(*ReadFileBounded(dir_ + "/api/20231114T221420Z.heap.pprof", 100), "heap-bytes");
  // A later single-attachment profile does not collide with the multi-file stem.
  EXPECT_EQ(*sink.Write(Upload("api")), dir_ + "/api/20231114T221420Z.pprof");
  EXPECT_EQ(*sink.Write(upload), dir_ + "/api/20231114T221420Z-1");
}

TEST_F(LocalSinkTest, HostileServiceNamesStayInsideTheDirectory) {
  LocalSink sink(dir_);
  EXPECT_EQ(*sink.Write(Upload("../x")), dir_ + "/___x/20231114T221420Z.pprof");
  EXPECT_EQ(*sink.Write(Upload("a/b")), dir_ + "/a_b/20231114T221420Z.pprof");
  EXPECT_EQ(*sink.Write(Upload("")), dir_ + "/_/20231114T221420Z.pprof");
  EXPECT_EQ(*sink.Write(Upload("..")), dir_ + "/__/20231114T221420Z.pprof");
  EXPECT_EQ(*sink.Write(Upload("服务 1")), dir_ + "/服务_1/20231114T221420Z.pprof");
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(dir_).parent_path() / "x"));
}

// The eBPF flush and the Go pullers write from different threads, often with the same end time.
TEST_F(LocalSinkTest, ConcurrentWritersNeverShareAFile) {
  LocalSink sink(dir_);
  constexpr int kThreads = 4, kPerThread = 20;
  std::vector<std::vector<std::string>> paths(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) paths[t].push_back(*sink.Write(Upload("api")));
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> distinct;
  for (const auto& list : paths) distinct.insert(list.begin(), list.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(SanitizePathComponentTest, BoundedOnACharacterBoundary) {
  EXPECT_EQ(SanitizePathComponent(std::string(500, 'a')), std::string(kMaxPathComponentBytes, 'a'));
  // 127 ASCII bytes then a 3-byte character crossing the limit: the character goes entirely.
  const std::string name = std::string(127, 'a') + "服";
  EXPECT_EQ(SanitizePathComponent(name), std::string(127, 'a'));
  EXPECT_EQ(SanitizePathComponent(".hidden"), "_hidden");
}

TEST_F(LocalSinkTest, ErrorsAreReported) {
  LocalSink sink(dir_ + "/file");
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/file", "x").ok());
  EXPECT_FALSE(sink.Write(Upload("api")).ok());
  ProfileUpload empty = Upload("api");
  empty.attachments.clear();
  EXPECT_EQ(LocalSink(dir_).Write(empty).status().message(), "writing a profile: no attachments");
}

}  // namespace
}  // namespace profkit::forward
