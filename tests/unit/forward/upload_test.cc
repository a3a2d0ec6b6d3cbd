#include "profkit/forward/upload.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace profkit::forward {
namespace {

ProfileUpload SampleUpload() {
  ProfileUpload upload;
  upload.service = "api";
  upload.env = "prod";
  upload.version = "1.2.3";
  upload.host = "web-1";
  upload.extra_tags = {{"runtime", "cpython"}};
  upload.start_unix_nanos = 1'700'000'000'000'000'000;
  upload.end_unix_nanos = 1'700'000'060'123'456'789;
  upload.attachments = {
      {"cpu.pprof", "application/octet-stream", std::string("\x1f\x8b\0pprof", 8)}};
  return upload;
}

TEST(TagsProfilerTest, StandardThenExtraTags) {
  EXPECT_EQ(BuildTagsProfiler(SampleUpload()),
            "service:api,env:prod,version:1.2.3,host:web-1,runtime:cpython");
}

TEST(TagsProfilerTest, EmptyValuesOmittedExceptService) {
  ProfileUpload upload;
  upload.extra_tags = {{"empty", ""}, {"", "no-key"}, {"k", "v"}};
  EXPECT_EQ(BuildTagsProfiler(upload), "service:,k:v");
}

TEST(TagsProfilerTest, CommasAndKeyColonsReplaced) {
  ProfileUpload upload;
  upload.service = "a,b";
  upload.env = "x:y";
  upload.extra_tags = {{"k,1", "v,1"}, {"k:2", "u:r:l"}};
  EXPECT_EQ(BuildTagsProfiler(upload), "service:a_b,env:x:y,k_1:v_1,k_2:u:r:l");
}

TEST(TagsProfilerTest, StandardTagsWinOverExtraDuplicates) {
  ProfileUpload upload = SampleUpload();
  upload.extra_tags = {{"env", "other"}, {"zone", "a"}, {"zone", "b"}};
  EXPECT_EQ(BuildTagsProfiler(upload), "service:api,env:prod,version:1.2.3,host:web-1,zone:a");
}

TEST(EventJsonTest, FieldsInOrder) {
  EXPECT_EQ(BuildEventJson(SampleUpload()),
            R"({"format":"pprof","profiler":"profkit","attachments":["cpu.pprof"],)"
            R"("language":"cpp","tags_profiler":"service:api,env:prod,version:1.2.3,host:web-1,)"
            R"(runtime:cpython","start":"2023-11-14T22:13:20.000000000Z",)"
            R"("end":"2023-11-14T22:14:20.123456789Z"})");
}

TEST(EventJsonTest, InvalidUtf8DoesNotThrow) {
  ProfileUpload upload = SampleUpload();
  upload.service = "bad\xff";
  const nlohmann::json event = nlohmann::json::parse(BuildEventJson(upload));
  EXPECT_EQ(event["tags_profiler"].get<std::string>().substr(0, 11), "service:bad");
}

// Splits a multipart body at its boundary and checks the framing on the way.
std::vector<std::string> SplitParts(const std::string& body, const std::string& boundary) {
  std::vector<std::string> parts;
  const std::string delimiter = "--" + boundary;
  size_t pos = 0;
  EXPECT_EQ(body.compare(0, delimiter.size() + 2, delimiter + "\r\n"), 0);
  pos = delimiter.size() + 2;
  while (true) {
    const size_t next = body.find("\r\n" + delimiter, pos);
    if (next == std::string::npos) break;
    parts.push_back(body.substr(pos, next - pos));
    pos = next + 2 + delimiter.size();
    if (body.compare(pos, 4, "--\r\n") == 0) {
      EXPECT_EQ(pos + 4, body.size());
      return parts;
    }
    EXPECT_EQ(body.compare(pos, 2, "\r\n"), 0);
    pos += 2;
  }
  ADD_FAILURE() << "no closing delimiter";
  return parts;
}

TEST(MultipartTest, EventFirstThenAttachments) {
  ProfileUpload upload = SampleUpload();
  upload.attachments.push_back({"heap.pprof", "application/x-pprof", "heap-bytes"});
  const MultipartBody multipart = BuildMultipartUpload(upload);
  const std::string prefix = "multipart/form-data; boundary=";
  ASSERT_EQ(multipart.content_type.compare(0, prefix.size(), prefix), 0);
  const std::string boundary = multipart.content_type.substr(prefix.size());
  EXPECT_GE(boundary.size(), 32u);

  const std::vector<std::string> parts = SplitParts(multipart.body, boundary);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], "Content-Disposition: form-data; name=\"event\"; filename=\"event.json\"\r\n"
                      "Content-Type: application/json\r\n\r\n" +
                          BuildEventJson(upload));
  EXPECT_EQ(parts[1],
            "Content-Disposition: form-data; name=\"cpu.pprof\"; filename=\"cpu.pprof\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" +
                upload.attachments[0].data);
  EXPECT_EQ(parts[2],
            "Content-Disposition: form-data; name=\"heap.pprof\"; filename=\"heap.pprof\"\r\n"
            "Content-Type: application/x-pprof\r\n\r\nheap-bytes");
}

TEST(MultipartTest, BoundariesDifferAndHeadersCannotBeInjected) {
  ProfileUpload upload = SampleUpload();
  upload.attachments[0].name = "a\"b\r\nX-Evil: 1";
  upload.attachments[0].content_type = "text/plain\r\nX-Evil: 2";
  const MultipartBody first = BuildMultipartUpload(upload);
  EXPECT_NE(first.content_type, BuildMultipartUpload(upload).content_type);
  EXPECT_EQ(first.body.find("\r\nX-Evil"), std::string::npos);
  EXPECT_NE(first.body.find(R"(name="a\"b__X-Evil: 1")"), std::string::npos);
}

}  // namespace
}  // namespace profkit::forward
