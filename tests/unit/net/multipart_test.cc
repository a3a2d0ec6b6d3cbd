#include "profkit/net/multipart.h"

#include <gtest/gtest.h>

#include "ingest/fixture.h"

namespace profkit::net {
namespace {

TEST(MultipartTest, ParsesTheDdTraceJsFixture) {
  const std::string body = ingest::testing::FixtureBody();
  Result<std::string> boundary = MultipartBoundary(ingest::testing::kFixtureContentType);
  ASSERT_TRUE(boundary.ok()) << boundary.status().message();
  EXPECT_EQ(*boundary, "6f6355e8d3c54f4b");
  Result<std::vector<Part>> parts = ParseMultipart(body, *boundary);
  ASSERT_TRUE(parts.ok()) << parts.status().message();
  ASSERT_EQ(parts->size(), 4u);
  EXPECT_EQ((*parts)[0].name, "event");
  EXPECT_EQ((*parts)[0].filename, "event.json");
  EXPECT_EQ((*parts)[0].content_type, "application/json");
  EXPECT_EQ((*parts)[0].data.front(), '{');
  EXPECT_EQ((*parts)[0].data.back(), '}');
  for (size_t i = 1; i < parts->size(); ++i) {
    EXPECT_TRUE((*parts)[i].has_filename);
    // gzip magic: dd-trace-js compresses every profile.
    EXPECT_EQ((*parts)[i].data.substr(0, 2), "\x1f\x8b");
  }
}

TEST(MultipartTest, FieldsFilesQuotingAndMissingContentType) {
  const std::string body =
      "preamble\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"tags[]\"\r\n\r\nservice:a\r\n"
      "--b\r\n"
      "content-disposition: form-data; name=\"data[0]\"; filename=\"a \\\"q\\\".pb.gz\"\r\n\r\n"
      "\r\n--notb\r\n"
      "--b--\r\n";
  Result<std::vector<Part>> parts = ParseMultipart(body, "b");
  ASSERT_TRUE(parts.ok()) << parts.status().message();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "tags[]");
  EXPECT_FALSE((*parts)[0].has_filename);
  EXPECT_EQ((*parts)[0].data, "service:a");
  EXPECT_EQ((*parts)[1].filename, "a \"q\".pb.gz");
  EXPECT_EQ((*parts)[1].content_type, "");
  EXPECT_EQ((*parts)[1].data, "\r\n--notb");
}

TEST(MultipartTest, BoundaryErrors) {
  EXPECT_EQ(MultipartBoundary("").status().message(),
            "no Content-Type (expected multipart/form-data)");
  EXPECT_FALSE(MultipartBoundary("application/json").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data").ok());
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data; charset=x; boundary=\"a b\""), "a b");
}

TEST(MultipartTest, EveryTruncationIsAnErrorNotACrash) {
  const std::string body = ingest::testing::FixtureBody();
  for (size_t size = 0; size + 4 < body.size(); size += 97) {
    EXPECT_FALSE(ParseMultipart(body.substr(0, size), "6f6355e8d3c54f4b").ok()) << size;
  }
}

TEST(MultipartTest, RejectsMalformedParts) {
  EXPECT_EQ(ParseMultipart("--b\r\nX: y\r\n\r\nz\r\n--b--", "b").status().message(),
            "part 1: no Content-Disposition");
  EXPECT_EQ(ParseMultipart("--b\r\nX: y\r\n\r\nz\r\n--b--", "b").status().code(),
            StatusCode::kInvalidInput);
  EXPECT_EQ(ParseMultipart("--b\r\nContent-Disposition: attachment; name=a\r\n\r\nz\r\n--b--", "b")
                .status()
                .message(),
            "part 1: Content-Disposition is not form-data");
  EXPECT_EQ(ParseMultipart("garbage", "b").status().code(), StatusCode::kInvalidInput);
  std::string many;
  for (size_t i = 0; i <= kMaxMultipartParts; ++i) {
    many += "--b\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n";
  }
  many += "--b--\r\n";
  EXPECT_EQ(ParseMultipart(many, "b").status().message(), "more than 256 parts");
  EXPECT_EQ(ParseMultipart(many, "b").status().code(), StatusCode::kTooLarge);
}

}  // namespace
}  // namespace profkit::net
