#include "profkit/ingest/upload_handler.h"

#include <gtest/gtest.h>

#include <cerrno>
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
  EXPECT_EQ(
      HandleProfileUpload(testing::kFixtureContentType, "gzip", *bomb, kLimit, {}, recorder.Queue())
          .status,
      413);
  EXPECT_EQ(
      HandleProfileUpload(testing::kFixtureContentType, "br", "x", kLimit, {}, recorder.Queue())
          .status,
      400);
}

TEST(UploadHandlerTest, BadBodiesGet400WithTheReason) {
  Recorder recorder;
  const std::string body = testing::FixtureBody();
  IngestResponse response =
      HandleProfileUpload("application/json", "", "{}", kLimit, {}, recorder.Queue());
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
  EXPECT_EQ(
      HandleProfileUpload(testing::kFixtureContentType, "", random, kLimit, {}, recorder.Queue())
          .status,
      400);
  EXPECT_TRUE(recorder.queued.empty());
}

TEST(UploadHandlerTest, HttpStatusComesFromTheCode) {
  // The same message under different codes: the answer never depends on the text.
  const std::string text = "decompressed size exceeds 10 bytes";
  EXPECT_EQ(HttpStatusForRejected(Status::InvalidInput(text)), 400);
  EXPECT_EQ(HttpStatusForRejected(Status::TooLarge(text)), 413);
  EXPECT_EQ(HttpStatusForRejected(Status::Unsupported(text)), 415);
  EXPECT_EQ(HttpStatusForRejected(Status::Unavailable(text)), 503);
  EXPECT_EQ(HttpStatusForRejected(Status::Internal(text)), 500);
  EXPECT_EQ(HttpStatusForQueueError(Status::FromErrno("write", ENOSPC)), 503);
  EXPECT_EQ(HttpStatusForQueueError(Status::FromErrno("write", EDQUOT)), 503);
  EXPECT_EQ(HttpStatusForQueueError(Status::FromErrno("write", EFBIG)), 503);
  EXPECT_EQ(HttpStatusForQueueError(Status::TooLarge("a record exceeds the capacity")), 503);
  EXPECT_EQ(HttpStatusForQueueError(Status::Unavailable("stopping")), 503);
  EXPECT_EQ(HttpStatusForQueueError(Status::FromErrno("write", EIO)), 500);
  EXPECT_EQ(HttpStatusForQueueError(Status::Internal("No space left on device")), 500);
}

TEST(UploadHandlerTest, TooManyPartsGet413) {
  Recorder recorder;
  std::string many;
  for (size_t i = 0; i <= net::kMaxMultipartParts; ++i) {
    many += "--b\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n";
  }
  many += "--b--\r\n";
  const IngestResponse response = HandleProfileUpload("multipart/form-data; boundary=b", "", many,
                                                      kLimit, {}, recorder.Queue());
  EXPECT_EQ(response.status, 413);
  EXPECT_EQ(response.body, "multipart body: more than 256 parts\n");
  EXPECT_TRUE(recorder.queued.empty());
}

TEST(UploadHandlerTest, QueueErrorsAre503WhenFullAnd500Otherwise) {
  Recorder recorder;
  recorder.next = Status::FromErrno("disk queue: write", ENOSPC);
  IngestResponse response = HandleProfileUpload(
      testing::kFixtureContentType, "", testing::FixtureBody(), kLimit, {}, recorder.Queue());
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "profkit: disk queue: write: No space left on device\n");
  recorder.next = Status::FromErrno("disk queue: write", EIO);
  EXPECT_EQ(HandleProfileUpload(testing::kFixtureContentType, "", testing::FixtureBody(), kLimit,
                                {}, recorder.Queue())
                .status,
            500);
}

}  // namespace
}  // namespace profkit::ingest
