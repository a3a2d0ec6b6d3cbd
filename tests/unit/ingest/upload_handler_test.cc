#include "profkit/ingest/upload_handler.h"

#include <gtest/gtest.h>

#include <vector>

#include "fixture.h"
#include "profkit/common/compression.h"

namespace profkit::ingest {
namespace {

constexpr size_t kLimit = 1 << 20;

struct Delivered {
  std::string service, content_type, body;
};

struct Recorder {
  std::vector<Delivered> queued;
  Status next = Status::Ok();
  Deliver Queue() {
    return [this](const RewrittenUpload& upload) {
      if (!next.ok()) return next;
      queued.push_back({upload.service, upload.multipart.content_type, upload.multipart.body});
      return Status::Ok();
    };
  }
};

TEST(UploadHandlerTest, QueuesTheFixtureAndAnswers200WithAProfileId) {
  Recorder recorder;
  const IngestResponse response = HandleProfileUpload(
      testing::kFixtureContentType, "", testing::FixtureBody(), kLimit, {}, recorder.Queue());
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body.rfind(R"({"content":{"profileID":")", 0), 0u) << response.body;
  ASSERT_EQ(recorder.queued.size(), 1u);
  EXPECT_TRUE(recorder.queued[0].content_type.starts_with("multipart/form-data; boundary="));
  EXPECT_EQ(recorder.queued[0].service, "node-demo");
}

TEST(UploadHandlerTest, GzipContentEncodingIsDecoded) {
  Recorder recorder;
  const Result<std::string> gzipped = GzipCompress(testing::FixtureBody());
  ASSERT_TRUE(gzipped.ok());
  EXPECT_EQ(HandleProfileUpload(testing::kFixtureContentType, "gzip", *gzipped, kLimit, {},
                                recorder.Queue())
                .status,
            200);
  // A body that inflates past the limit is refused with 413, bounded.
  const Result<std::string> bomb = GzipCompress(std::string(4 * kLimit, '\0'));
  ASSERT_TRUE(bomb.ok());
  EXPECT_EQ(HandleProfileUpload(testing::kFixtureContentType, "gzip", *bomb, kLimit, {},
                                recorder.Queue())
                .status,
            413);
  EXPECT_EQ(HandleProfileUpload(testing::kFixtureContentType, "br", "x", kLimit, {},
                                recorder.Queue())
                .status,
            400);
}

TEST(UploadHandlerTest, BadBodiesGet400WithTheReason) {
  Recorder recorder;
  const std::string body = testing::FixtureBody();
  IngestResponse response = HandleProfileUpload("application/json", "", "{}", kLimit, {},
                                                recorder.Queue());
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "Content-Type \"application/json\" is not multipart/form-data\n");
  response = HandleProfileUpload(testing::kFixtureContentType, "", body.substr(0, body.size() / 2),
                                 kLimit, {}, recorder.Queue());
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "multipart body: no closing boundary (truncated body?)\n");
  // Random bytes.
  std::string random(4096, '\0');
  uint32_t state = 12345;
  for (char& c : random) c = static_cast<char>((state = state * 1103515245 + 12345) >> 16);
  EXPECT_EQ(HandleProfileUpload(testing::kFixtureContentType, "", random, kLimit, {},
                                recorder.Queue())
                .status,
            400);
  EXPECT_TRUE(recorder.queued.empty());
}

TEST(UploadHandlerTest, QueueErrorsAre503WhenFullAnd500Otherwise) {
  Recorder recorder;
  recorder.next = Status::Error("disk queue: write: No space left on device");
  IngestResponse response = HandleProfileUpload(testing::kFixtureContentType, "",
                                                testing::FixtureBody(), kLimit, {},
                                                recorder.Queue());
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "profkit: disk queue: write: No space left on device\n");
  recorder.next = Status::Error("disk queue: write: Input/output error");
  EXPECT_EQ(HandleProfileUpload(testing::kFixtureContentType, "", testing::FixtureBody(), kLimit,
                                {}, recorder.Queue())
                .status,
            500);
}

}  // namespace
}  // namespace profkit::ingest
