#include "profkit/forward/queued_request.h"

#include <gtest/gtest.h>

namespace profkit::forward {
namespace {

TEST(QueuedRequestTest, RoundTrips) {
  const QueuedRequest request{"/v1/upload/profiling", "multipart/form-data; boundary=x", "api",
                              std::string("bin\0ary", 7)};
  const Result<QueuedRequest> decoded = DecodeQueuedRequest(EncodeQueuedRequest(request));
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->path, request.path);
  EXPECT_EQ(decoded->content_type, request.content_type);
  EXPECT_EQ(decoded->service, request.service);
  EXPECT_EQ(decoded->body, request.body);
}

TEST(QueuedRequestTest, RejectsEveryTruncationAndTrailingBytes) {
  const std::string record = EncodeQueuedRequest({"/p", "t", "s", "body"});
  for (size_t size = 0; size < record.size(); ++size) {
    EXPECT_FALSE(DecodeQueuedRequest(record.substr(0, size)).ok()) << size;
  }
  EXPECT_FALSE(DecodeQueuedRequest(record + "x").ok());
  std::string other_version = record;
  other_version[0] = 2;
  EXPECT_EQ(DecodeQueuedRequest(other_version).status().message(),
            "queued request: unknown record version");
}

}  // namespace
}  // namespace profkit::forward
