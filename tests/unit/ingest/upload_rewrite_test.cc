#include "profkit/ingest/upload_rewrite.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixture.h"

namespace profkit::ingest {
namespace {

std::vector<net::Part> Parse(const std::string& body, const std::string& boundary) {
  Result<std::vector<net::Part>> parts = net::ParseMultipart(body, boundary);
  EXPECT_TRUE(parts.ok()) << parts.status().message();
  return parts.ok() ? std::move(parts).value() : std::vector<net::Part>{};
}

// The event.json and the attachments of a rewritten upload, parsed back.
struct Forwarded {
  nlohmann::json event;
  std::vector<net::Part> parts;
  std::string body;  // owns the bytes parts point into
};

Forwarded ParseForwarded(const RewrittenUpload& upload) {
  Forwarded out;
  out.body = upload.multipart.body;
  const Result<std::string> boundary = net::MultipartBoundary(upload.multipart.content_type);
  EXPECT_TRUE(boundary.ok());
  out.parts = Parse(out.body, *boundary);
  EXPECT_FALSE(out.parts.empty());
  if (!out.parts.empty()) out.event = nlohmann::json::parse(out.parts[0].data);
  return out;
}

TEST(UploadRewriteTest, DdTraceJsFixtureGolden) {
  const std::string body = testing::FixtureBody();
  const std::vector<net::Part> parts = Parse(body, "6f6355e8d3c54f4b");
  const nlohmann::json original = nlohmann::json::parse(parts[0].data);
  Result<RewrittenUpload> upload =
      RewriteUpload(parts, RewriteOptions{"agent-host", {{"some_tag", "a,b"}, {"env", "prod"}}});
  ASSERT_TRUE(upload.ok()) << upload.status().message();
  EXPECT_EQ(upload->service, "node-demo");
  EXPECT_EQ(upload->language, "nodejs");  // language:javascript, never java
  EXPECT_EQ(upload->start, "2026-11-22T01:14:25.745Z");
  EXPECT_EQ(upload->end, "2026-11-22T01:14:35.969Z");

  const Forwarded forwarded = ParseForwarded(*upload);
  const nlohmann::json& event = forwarded.event;
  EXPECT_EQ(forwarded.parts[0].name, "event");
  EXPECT_EQ(forwarded.parts[0].filename, "event.json");
  EXPECT_EQ(event["language"], "nodejs");
  EXPECT_EQ(event["format"], "pprof");
  EXPECT_EQ(event["attachments"],
            nlohmann::json::parse(R"(["space.pprof","wall.pprof","events.pprof"])"));
  EXPECT_EQ(event["start"], original["start"]);
  EXPECT_EQ(event["end"], original["end"]);
  // Original fields survive (docs/datakit-protocol.md §5 row 9).
  EXPECT_EQ(event["info"], original["info"]);
  EXPECT_EQ(event["endpoint_counts"], original["endpoint_counts"]);
  EXPECT_EQ(event["family"], "node");
  EXPECT_EQ(event["version"], "4");
  EXPECT_EQ(event["tags_profiler"],
            "language:javascript,runtime:nodejs,runtime_arch:x64,runtime_os:linux,"
            "runtime_version:v20.20.2,process_id:8576,profiler_version:5.132.0,format:pprof,"
            "service:node-demo,env:prod,version:1.0,"
            "runtime-id:9fa6fa0f-5319-4d53-aa3c-93600f4fb0b1,"
            "_dd.rc.client_id:f59fc1df-0230-497a-b36b-47ca508de38a,snapshot:periodic,"
            "profile_seq:0,some_tag:a_b,host:agent-host");

  // Attachments byte for byte, with their own headers.
  ASSERT_EQ(forwarded.parts.size(), 4u);
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(forwarded.parts[i].name, parts[i].name);
    EXPECT_EQ(forwarded.parts[i].filename, parts[i].filename);
    EXPECT_EQ(forwarded.parts[i].content_type, parts[i].content_type);
    EXPECT_EQ(forwarded.parts[i].data, parts[i].data);
  }
}

TEST(UploadRewriteTest, ClientHostWins) {
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"event\"; filename=\"event.json\"\r\n\r\n"
      R"({"tags_profiler":"service:s,host:client-host","family":"go","attachments":["cpu.pprof"]})"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"cpu.pprof\"; "
      "filename=\"cpu.pprof\"\r\n\r\n"
      "PPROF\r\n--b--\r\n";
  Result<RewrittenUpload> upload = RewriteUpload(Parse(body, "b"), RewriteOptions{"agent", {}});
  ASSERT_TRUE(upload.ok()) << upload.status().message();
  EXPECT_EQ(upload->language, "golang");
  EXPECT_EQ(ParseForwarded(*upload).event["tags_profiler"], "service:s,host:client-host");
}

TEST(UploadRewriteTest, SenderPodTagsFillOnlyWhatTheClientLeftOut) {
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"event\"; filename=\"event.json\"\r\n\r\n"
      R"({"tags_profiler":"service:s,env:,pod_name:client-says","family":"go",)"
      R"("attachments":["cpu.pprof"]})"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"cpu.pprof\"; "
      "filename=\"cpu.pprof\"\r\n\r\n"
      "PPROF\r\n--b--\r\n";
  RewriteOptions options{.host = "node-1",
                         .tags = {{"cluster_name_k8s", "from-config"}},
                         .sender_tags = {{"service", "pod-service"},
                                         {"env", "prod"},
                                         {"pod_name", "web-1"},
                                         {"namespace", "shop"},
                                         {"cluster_name_k8s", "from-pod"}}};
  Result<RewrittenUpload> upload = RewriteUpload(Parse(body, "b"), options);
  ASSERT_TRUE(upload.ok()) << upload.status().message();
  EXPECT_EQ(upload->service, "s");
  EXPECT_EQ(ParseForwarded(*upload).event["tags_profiler"],
            "service:s,env:prod,pod_name:client-says,namespace:shop,cluster_name_k8s:from-config,"
            "host:node-1");
}

TEST(UploadRewriteTest, LegacyV1DdTraceJsLayout) {
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"recording-start\"\r\n\r\n2024-01-01T00:00:00Z"
      "\r\n--b\r\nContent-Disposition: form-data; "
      "name=\"recording-end\"\r\n\r\n2024-01-01T00:01:00Z"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\njavascript"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\npprof"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"tags[]\"\r\n\r\nservice:legacy"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"tags[]\"\r\n\r\nenv:dev"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"types[0]\"\r\n\r\nwall"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"data[0]\"; filename=\"wall.pb.gz\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\nGZ\r\n--b--\r\n";
  Result<RewrittenUpload> upload = RewriteUpload(Parse(body, "b"), RewriteOptions{"h", {}});
  ASSERT_TRUE(upload.ok()) << upload.status().message();
  EXPECT_EQ(upload->service, "legacy");
  EXPECT_EQ(upload->language, "nodejs");
  const Forwarded forwarded = ParseForwarded(*upload);
  EXPECT_EQ(forwarded.event["start"], "2024-01-01T00:00:00Z");
  EXPECT_EQ(forwarded.event["end"], "2024-01-01T00:01:00Z");
  EXPECT_EQ(forwarded.event["attachments"], nlohmann::json::parse(R"(["wall.pb.gz"])"));
  EXPECT_EQ(forwarded.event["format"], "pprof");
  ASSERT_EQ(forwarded.parts.size(), 2u);
  EXPECT_EQ(forwarded.parts[1].name, "data[0]");
  EXPECT_EQ(forwarded.parts[1].data, "GZ");
}

TEST(UploadRewriteTest, LegacyV3Layout) {
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n3"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"family\"\r\n\r\npython"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"start\"\r\n\r\n2024-01-01T00:00:00Z"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"end\"\r\n\r\n2024-01-01T00:01:00Z"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"tags[]\"\r\n\r\nservice:py"
      "\r\n--b\r\nContent-Disposition: form-data; name=\"data[auto.pprof]\"; "
      "filename=\"auto.pprof\"\r\n\r\nP\r\n--b--\r\n";
  Result<RewrittenUpload> upload = RewriteUpload(Parse(body, "b"), RewriteOptions{"h", {}});
  ASSERT_TRUE(upload.ok()) << upload.status().message();
  EXPECT_EQ(upload->language, "python");
  const Forwarded forwarded = ParseForwarded(*upload);
  EXPECT_EQ(forwarded.event["attachments"], nlohmann::json::parse(R"(["auto.pprof"])"));
  EXPECT_EQ(forwarded.event["family"], "python");
  EXPECT_EQ(forwarded.event["start"], "2024-01-01T00:00:00Z");
}

TEST(UploadRewriteTest, ErrorsSayWhatIsWrong) {
  const std::string no_event = "--b\r\nContent-Disposition: form-data; name=\"x\"; "
                               "filename=\"x.pprof\"\r\n\r\nP\r\n--b--\r\n";
  EXPECT_EQ(RewriteUpload(Parse(no_event, "b"), {}).status().message(),
            "no event part (event.json) and no legacy tags[] fields: not a Datadog profile upload");
  const std::string bad_json =
      "--b\r\nContent-Disposition: form-data; name=\"event\"; filename=\"event.json\"\r\n\r\n{x"
      "\r\n--b--\r\n";
  EXPECT_EQ(RewriteUpload(Parse(bad_json, "b"), {}).status().message(),
            "the \"event\" part is not valid JSON");
  const std::string not_object =
      "--b\r\nContent-Disposition: form-data; name=\"event\"; filename=\"event.json\"\r\n\r\n[1]"
      "\r\n--b--\r\n";
  EXPECT_EQ(RewriteUpload(Parse(not_object, "b"), {}).status().message(),
            "the \"event\" part is not a JSON object");
  EXPECT_EQ(RewriteUpload(Parse(not_object, "b"), {}).status().code(), StatusCode::kInvalidInput);
}

TEST(UploadRewriteTest, LanguageIsExactFirstThenLongestSubstring) {
  EXPECT_EQ(ResolveLanguage({"javascript"}), "nodejs");
  EXPECT_EQ(ResolveLanguage({"jvm"}), "java");
  EXPECT_EQ(ResolveLanguage({"", "CPython"}), "python");
  EXPECT_EQ(ResolveLanguage({"go"}), "golang");
  EXPECT_EQ(ResolveLanguage({"node"}), "nodejs");
  EXPECT_EQ(ResolveLanguage({"dotnet-core"}), "dotnet");
  EXPECT_EQ(ResolveLanguage({"whatever", "ruby"}), "ruby");
  EXPECT_EQ(ResolveLanguage({"zzz"}), "unknown");
}

TEST(UploadRewriteTest, TagParser) {
  EXPECT_EQ(ParseTag("k:v:w"), (std::pair<std::string, std::string>{"k", "v:w"}));
  EXPECT_EQ(ParseTag("k"), (std::pair<std::string, std::string>{"k", ""}));
  EXPECT_EQ(ParseTag(":v"), (std::pair<std::string, std::string>{":v", ""}));
}

}  // namespace
}  // namespace profkit::ingest
