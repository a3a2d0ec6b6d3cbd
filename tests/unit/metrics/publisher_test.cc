#include "profkit/metrics/publisher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "profkit/common/compression.h"
#include "profkit/common/file_util.h"
#include "profkit/forward/dataway_url.h"
#include "profkit/ingest/upload_rewrite.h"
#include "test_pprof.h"

namespace profkit::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kStart = 1'700'000'000'000'000'000;

forward::ProfileUpload EbpfPythonUpload(std::string host) {
  const std::string pprof =
      testing::BuildPprof({{{"samples", "count"}, 500}, {{"cpu", "nanoseconds"}, 5'000'000'000}});
  return forward::ProfileUpload{
      .service = "web app",
      .env = "prod",
      .version = "",
      .host = std::move(host),
      .language = "python",
      .start_unix_nanos = kStart,
      .end_unix_nanos = kStart + 10'000'000'000,
      .attachments = {{.name = "cpu.pprof", .data = *GzipCompress(pprof)}}};
}

// What the agent's door hands to metrics for a pushed upload (agent/door.cc).
PushedProfile Pushed(const ingest::RewrittenUpload& upload) {
  PushedProfile profile{.service = upload.service,
                        .language = upload.language,
                        .tags = upload.tags,
                        .start = upload.start,
                        .end = upload.end};
  for (const net::Part* part : upload.attachments) {
    profile.files.push_back({part->name, part->filename, std::string(part->data)});
  }
  return profile;
}

TEST(Rfc3339, ParsesFractionsAndOffsets) {
  EXPECT_EQ(*ParseRfc3339Nanos("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-22T01:14:25.745Z"), 1795310065745000000);
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-22T09:14:25.123456789+08:00"), 1795310065123456789);
  EXPECT_EQ(*ParseRfc3339Nanos("2026-11-22T01:14:25.1234567891Z"), 1795310065123456789);
  for (const char* bad :
       {"", "2026-11-22", "2026-11-22T01:14:25", "2026-13-22T01:14:25Z", "2026-11-22T01:14:25.Z",
        "2026-11-22T01:14:25+8", "x026-11-22T01:14:25Z"}) {
    EXPECT_FALSE(ParseRfc3339Nanos(bad).ok()) << bad;
  }
}

TEST(FromUpload, EbpfPythonLineWithTagsAndConfiguredOverrides) {
  const MetricsOptions options{.host = "agent-host", .tags = {{"env", "staging"}, {"team", "a b"}}};
  Result<std::string> line = FromUpload(EbpfPythonUpload(""), options);
  ASSERT_TRUE(line.ok()) << line.status().message();
  EXPECT_EQ(*line,
            "profiling_metrics,env=staging,host=agent-host,language=python,service=web\\ app,"
            "team=a\\ b prof_python_cpu_cores=0.5 1700000010000000000\n");
  EXPECT_THAT(*FromUpload(EbpfPythonUpload("node-7"), options), HasSubstr("host=node-7"));
}

TEST(FromUpload, NativeProfilesHaveNoLine) {
  forward::ProfileUpload upload = EbpfPythonUpload("h");
  upload.language = "cpp";
  EXPECT_EQ(*FromUpload(upload, {}), "");
}

TEST(FromPushedProfile, DdTraceJsFixtureAsIngestParsedIt) {
  Result<std::string> body = ReadFileBounded(
      std::string(PROFKIT_TEST_DATA_DIR) + "/ingest/ddtrace-js-5.132-push.multipart", 1 << 20);
  ASSERT_TRUE(body.ok()) << body.status().message();
  Result<std::vector<net::Part>> parts = net::ParseMultipart(*body, "6f6355e8d3c54f4b");
  ASSERT_TRUE(parts.ok());
  const MetricsOptions options{.host = "agent-host", .tags = {{"team", "x"}}};
  Result<ingest::RewrittenUpload> rewritten =
      ingest::RewriteUpload(*parts, ingest::RewriteOptions{"agent-host", options.tags});
  ASSERT_TRUE(rewritten.ok()) << rewritten.status().message();
  Result<std::string> line = FromPushedProfile(Pushed(*rewritten), options);
  ASSERT_TRUE(line.ok()) << line.status().message();
  // Fixture sums: wall 10 209 033 000 ns, cpu 10 159 190 728 ns, inuse 25 937 objects /
  // 11 651 900 bytes; start 01:14:25.745, end 01:14:35.969 → D = 10.224 s.
  EXPECT_EQ(*line, fmt::format("profiling_metrics,env=dev,host=agent-host,language=nodejs,"
                               "service=node-demo,team=x,version=1.0 prof_nodejs_cpu_cores={},"
                               "prof_nodejs_wall_time=10209033000i,"
                               "prof_nodejs_lifetime_heap_bytes=11651900i,"
                               "prof_nodejs_lifetime_heap_objects=25937i 1795310075969000000\n",
                               10'159'190'728.0 / 10'224'000'000.0));
}

TEST(Publisher, QueuesLinesAndCountsFailuresWithoutThrowing) {
  std::vector<forward::QueuedRequest> queued;
  Publisher publisher({.host = "h"}, [&](const forward::QueuedRequest& request) {
    queued.push_back(request);
    return Status::Ok();
  });
  publisher.Publish(EbpfPythonUpload("h"));
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].path, "/v1/write/metric");
  EXPECT_EQ(queued[0].content_type, kLineProtocolContentType);
  EXPECT_THAT(queued[0].body, StartsWith("profiling_metrics,"));

  forward::ProfileUpload bomb = EbpfPythonUpload("h");
  bomb.attachments[0].data = *GzipCompress(std::string(kMaxDecompressedPartBytes + 1, '\0'));
  publisher.Publish(bomb);
  forward::ProfileUpload empty = EbpfPythonUpload("h");
  empty.attachments.clear();
  publisher.Publish(empty);
  // A pushed upload whose event has no usable end: no point, an error.
  publisher.Publish(PushedProfile{
      .service = "s", .language = "nodejs", .start = "2026-11-22T01:14:25Z", .end = "soon"});
  // A pushed upload of a language without metrics: skipped.
  publisher.Publish(PushedProfile{.service = "s", .language = "java"});
  EXPECT_EQ(queued.size(), 1u);
  const PublisherCounters counters = publisher.counters();
  EXPECT_EQ(counters.points, 1u);
  EXPECT_EQ(counters.skipped, 2u);
  EXPECT_EQ(counters.errors, 2u);
}

TEST(Publisher, LaterPublishesInOrderAndDrainsOnDestruction) {
  Result<std::string> body = ReadFileBounded(
      std::string(PROFKIT_TEST_DATA_DIR) + "/ingest/ddtrace-js-5.132-push.multipart", 1 << 20);
  ASSERT_TRUE(body.ok());
  Result<std::vector<net::Part>> parts = net::ParseMultipart(*body, "6f6355e8d3c54f4b");
  ASSERT_TRUE(parts.ok());
  Result<ingest::RewrittenUpload> rewritten = ingest::RewriteUpload(*parts, {"h", {}});
  ASSERT_TRUE(rewritten.ok());
  std::vector<std::string> services;
  {
    Publisher publisher({.host = "h"}, [&](const forward::QueuedRequest& request) {
      services.push_back(request.service);  // only the publisher's thread calls this
      return Status::Ok();
    });
    for (const char* service : {"a", "b", "c"}) {
      PushedProfile profile = Pushed(*rewritten);
      profile.service = service;
      publisher.PublishLater(std::move(profile));
    }
  }
  EXPECT_EQ(services, (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace profkit::metrics
