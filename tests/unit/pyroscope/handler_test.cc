#include "profkit/pyroscope/handler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cerrno>

#include "profkit/common/compression.h"
#include "profkit/profile/pprof_builder.h"
#include "pyroscope/push.pb.h"

namespace profkit::pyroscope {
namespace {

constexpr int64_t kNow = 1'700'000'000'000'000'000;
constexpr size_t kLimit = 1 << 20;

struct Recorder {
  std::vector<forward::ProfileUpload> uploads;
  Status next = Status::Ok();
  Deliver deliver() {
    return [this](const forward::ProfileUpload& upload) {
      if (!next.ok()) return next;
      uploads.push_back(upload);
      return Status::Ok();
    };
  }
};

ListenerContext Context(std::string service = "") {
  ListenerContext context;
  context.input.service = std::move(service);
  context.input.env = "dev";
  context.input.tags = {{"team", "core"}};
  context.agent_host = "host-1";
  context.body_limit = kLimit;
  return context;
}

// A raw pprof with one CPU sample main → hot_function.
std::string CpuPprof(int64_t time_nanos = 0) {
  profile::PprofBuilder builder({.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}},
                                 .period_type = {"cpu", "nanoseconds"},
                                 .period = 10'000'000,
                                 .time_nanos = time_nanos,
                                 .duration_nanos = time_nanos ? 10'000'000'000 : 0});
  const uint64_t hot = builder.AddLocation({.lines = {{.function_name = "hot_function"}}});
  const uint64_t main = builder.AddLocation({.lines = {{.function_name = "main"}}});
  const std::vector<uint64_t> stack = {hot, main};
  const std::vector<int64_t> values = {3, 30'000'000};
  builder.AddSample(stack, values, {});
  return builder.SerializeUncompressed();
}

std::string Tag(const forward::ProfileUpload& upload, std::string_view key) {
  for (const auto& [k, v] : upload.extra_tags) {
    if (k == key) return v;
  }
  return "<absent>";
}

std::vector<std::string> FunctionNames(const forward::Attachment& attachment) {
  const Result<perftools::profiles::Profile> p = profile::ParsePprof(attachment.data, kLimit);
  EXPECT_TRUE(p.ok()) << p.status().message();
  std::vector<std::string> names;
  if (p.ok()) {
    for (const auto& f : p->function()) names.push_back(p->string_table(f.name()));
  }
  return names;
}

TEST(HandleIngestTest, FoldedBodyBecomesAGzippedCpuPprofWithTags) {
  Recorder recorder;
  const std::string body = "main;work;hot_function 40\nmain;idle 2\n";
  const Response response = HandleIngest(
      {.params = {{"name", "shop.cpu{env=prod,region=eu,__session_id__=x,service_name=svc}"},
                  {"from", "1700000000"},
                  {"until", "1700000010"},
                  {"spyName", "pyspy"},
                  {"sampleRate", "100"}},
       .body = body},
      Context(), recorder.deliver(), kNow);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, "");
  ASSERT_EQ(recorder.uploads.size(), 1u);
  const forward::ProfileUpload& upload = recorder.uploads[0];
  EXPECT_EQ(upload.service, "svc");  // the service_name label; none configured
  EXPECT_EQ(upload.env, "dev");      // configured, wins over the label
  EXPECT_EQ(upload.host, "host-1");
  EXPECT_EQ(upload.language, "python");
  EXPECT_EQ(upload.profiler, "pyroscope");
  EXPECT_EQ(upload.start_unix_nanos, 1'700'000'000'000'000'000);
  EXPECT_EQ(upload.end_unix_nanos, 1'700'000'010'000'000'000);
  EXPECT_EQ(Tag(upload, "team"), "core");
  EXPECT_EQ(Tag(upload, "region"), "eu");
  EXPECT_EQ(Tag(upload, "app_name"), "shop");
  EXPECT_EQ(Tag(upload, "spy_name"), "pyspy");
  EXPECT_EQ(Tag(upload, "input_format"), "folded");
  EXPECT_EQ(Tag(upload, "sample_rate"), "100");
  EXPECT_EQ(Tag(upload, "__session_id__"), "<absent>");
  ASSERT_EQ(upload.attachments.size(), 1u);
  EXPECT_EQ(upload.attachments[0].name, "cpu.pprof");
  EXPECT_EQ(upload.attachments[0].data.substr(0, 2), "\x1f\x8b");
  const std::vector<std::string> names = FunctionNames(upload.attachments[0]);
  EXPECT_NE(std::find(names.begin(), names.end(), "hot_function"), names.end());
}

TEST(HandleIngestTest, ServiceFallsBackToTheAppNameAndConfigWins) {
  Recorder recorder;
  ASSERT_EQ(HandleIngest({.params = {{"name", "shop"}}, .body = "a 1\n"}, Context(),
                         recorder.deliver(), kNow)
                .status,
            200);
  ASSERT_EQ(HandleIngest({.params = {{"name", "shop{service_name=x}"}}, .body = "a 1\n"},
                         Context("configured"), recorder.deliver(), kNow)
                .status,
            200);
  ASSERT_EQ(recorder.uploads.size(), 2u);
  EXPECT_EQ(recorder.uploads[0].service, "shop");
  EXPECT_EQ(recorder.uploads[0].language, "unknown");
  EXPECT_EQ(recorder.uploads[1].service, "configured");
}

TEST(HandleIngestTest, RawAndGzipPprofBodies) {
  Recorder recorder;
  const std::string raw = CpuPprof();
  const std::string gzip = *GzipCompress(raw);
  for (const std::string& body : {raw, gzip}) {
    const Response response = HandleIngest(
        {.params = {{"name", "goapp"}, {"format", "pprof"}, {"spyName", "gospy"}}, .body = body},
        Context(), recorder.deliver(), kNow);
    EXPECT_EQ(response.status, 200) << response.body;
  }
  ASSERT_EQ(recorder.uploads.size(), 2u);
  for (const forward::ProfileUpload& upload : recorder.uploads) {
    EXPECT_EQ(upload.language, "golang");
    EXPECT_EQ(upload.attachments[0].name, "cpu.pprof");
    EXPECT_EQ(Tag(upload, "input_format"), "pprof");
    EXPECT_EQ(upload.attachments[0].data.substr(0, 2), "\x1f\x8b");
  }
  // Already gzipped bytes are forwarded as they came.
  EXPECT_EQ(recorder.uploads[1].attachments[0].data, gzip);
}

TEST(HandleIngestTest, MultipartProfileWithSampleTypeConfig) {
  Recorder recorder;
  const std::string gzip = *GzipCompress(CpuPprof());
  const std::string config = R"({"samples":{"units":"samples","display-name":"cpu"}})";
  const Response response = HandleIngest(
      {.params = {{"name", "node{a=b}"}, {"spyName", "nodespy"}},
       .content_type = "multipart/form-data; boundary=x",
       .multipart = true,
       .parts = {{.name = "profile", .filename = "profile", .has_filename = true, .data = gzip},
                 {.name = "sample_type_config", .data = config}}},
      Context(), recorder.deliver(), kNow);
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(recorder.uploads.size(), 1u);
  EXPECT_EQ(recorder.uploads[0].language, "nodejs");
  EXPECT_EQ(recorder.uploads[0].attachments[0].data, gzip);
}

TEST(HandleIngestTest, BadRequestsAreRejectedWithTheReason) {
  Recorder recorder;
  const auto answer = [&](IngestRequest request) {
    return HandleIngest(request, Context(), recorder.deliver(), kNow);
  };
  Response r = answer({.params = {}, .body = "a 1\n"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "name: required (e.g. name=my-app{env=dev})\n");
  r = answer({.params = {{"name", "a"}}, .body = "no count here\nx"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("folded body: line 1:", 0), 0u) << r.body;
  r = answer({.params = {{"name", "a"}, {"format", "pprof"}}, .body = "not a pprof"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.rfind("profile:", 0), 0u) << r.body;
  r = answer(
      {.params = {{"name", "a"}}, .multipart = true, .parts = {{.name = "other", .data = "x"}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "multipart: no 'profile' part\n");
  r = answer({.params = {{"name", "a"}},
              .multipart = true,
              .parts = {{.name = "profile", .data = CpuPprof()}, {.name = "prev_profile"}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("prev_profile"), std::string::npos);
  r = answer({.params = {{"name", "a"}},
              .multipart = true,
              .parts = {{.name = "profile", .data = CpuPprof()},
                        {.name = "sample_type_config", .data = "{nope"}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("sample_type_config"), std::string::npos);
  r = answer({.params = {{"name", "a"}, {"format", "trie"}}, .body = "x"});
  EXPECT_EQ(r.status, 415);
  EXPECT_NE(r.body.find("format=trie is not supported"), std::string::npos);
  r = answer({.params = {{"name", "a"}}, .content_type = "binary/octet-stream+tree", .body = "x"});
  EXPECT_EQ(r.status, 415);
  EXPECT_TRUE(recorder.uploads.empty());
}

TEST(HandleIngestTest, InflatedBodiesAreBounded) {
  Recorder recorder;
  ListenerContext context = Context();
  context.body_limit = 1000;
  const std::string folded = *GzipCompress(std::string(5000, 'a') + " 1\n");
  Response r =
      HandleIngest({.params = {{"name", "a"}}, .body = folded}, context, recorder.deliver(), kNow);
  EXPECT_EQ(r.status, 413) << r.body;
  profile::PprofBuilder big({.sample_types = {{"samples", "count"}}});
  const uint64_t loc = big.AddLocation({.lines = {{.function_name = std::string(5000, 'f')}}});
  const std::vector<int64_t> one = {1};
  big.AddSample(std::span(&loc, 1), one, {});
  r = HandleIngest({.params = {{"name", "a"}, {"format", "pprof"}}, .body = *big.SerializeGzip()},
                   context, recorder.deliver(), kNow);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_TRUE(recorder.uploads.empty());
}

TEST(HandleIngestTest, QueueFailureIs503) {
  Recorder recorder;
  recorder.next = Status::FromErrno("write", ENOSPC);
  const Response r = HandleIngest({.params = {{"name", "a"}}, .body = "a 1\n"}, Context(),
                                  recorder.deliver(), kNow);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("No space left"), std::string::npos);
}

std::string PushBody(int profiles, const std::string& pprof) {
  PushRequest request;
  RawProfileSeries* series = request.add_series();
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"__name__", "process_cpu"},
                                                        {"service_name", "rust-app"},
                                                        {"pyroscope_spy", "pyroscope-rs"},
                                                        {"version", "1.0"},
                                                        {"__delta__", "false"},
                                                        {"zone", "a"}}) {
    LabelPair* label = series->add_labels();
    label->set_name(name);
    label->set_value(value);
  }
  for (int i = 0; i < profiles; ++i) {
    RawSample* sample = series->add_samples();
    sample->set_raw_profile(pprof);
    sample->set_id("id-" + std::to_string(i));
  }
  return request.SerializeAsString();
}

TEST(HandlePushTest, EverySampleIsQueued) {
  Recorder recorder;
  const Response r =
      HandlePush("application/proto", PushBody(2, CpuPprof(1'600'000'000'000'000'000)), Context(),
                 recorder.deliver(), kNow);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/proto");
  EXPECT_EQ(r.body, "");
  ASSERT_EQ(recorder.uploads.size(), 2u);
  const forward::ProfileUpload& upload = recorder.uploads[0];
  EXPECT_EQ(upload.service, "rust-app");
  EXPECT_EQ(upload.version, "1.0");
  EXPECT_EQ(upload.language, "rust");
  EXPECT_EQ(upload.start_unix_nanos, 1'600'000'000'000'000'000);
  EXPECT_EQ(upload.end_unix_nanos, 1'600'000'010'000'000'000);
  EXPECT_EQ(Tag(upload, "zone"), "a");
  EXPECT_EQ(Tag(upload, "__delta__"), "<absent>");
  EXPECT_EQ(Tag(upload, "input_format"), "push");
  EXPECT_EQ(upload.attachments[0].name, "cpu.pprof");
  const std::vector<std::string> names = FunctionNames(upload.attachments[0]);
  EXPECT_NE(std::find(names.begin(), names.end(), "hot_function"), names.end());
}

TEST(HandlePushTest, ProfileWithoutTimeEndsNow) {
  Recorder recorder;
  ASSERT_EQ(
      HandlePush("application/proto", PushBody(1, CpuPprof()), Context(), recorder.deliver(), kNow)
          .status,
      200);
  EXPECT_EQ(recorder.uploads.at(0).end_unix_nanos, kNow);
}

TEST(HandlePushTest, ErrorsAreConnectJson) {
  Recorder recorder;
  const auto code = [](const Response& r) {
    return nlohmann::json::parse(r.body).at("code").get<std::string>();
  };
  Response r = HandlePush("application/json", "{}", Context(), recorder.deliver(), kNow);
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(code(r), "unimplemented");
  r = HandlePush("application/proto", "\xff\xff\xff", Context(), recorder.deliver(), kNow);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(code(r), "invalid_argument");
  // One bad profile: nothing of the request is queued.
  PushRequest request;
  request.ParseFromString(PushBody(1, CpuPprof()));
  request.mutable_series(0)->add_samples()->set_raw_profile("garbage");
  r = HandlePush("application/proto", request.SerializeAsString(), Context(), recorder.deliver(),
                 kNow);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("series 0 sample 1"), std::string::npos) << r.body;
  request.ParseFromString(PushBody(1, CpuPprof()));
  request.mutable_series(0)->mutable_labels(1)->set_value("a\nb");
  r = HandlePush("application/proto", request.SerializeAsString(), Context(), recorder.deliver(),
                 kNow);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("series 0: the value of label"), std::string::npos) << r.body;
  // A profile that inflates past the body limit: too large, from its code.
  ListenerContext small = Context();
  small.body_limit = 100;
  r = HandlePush("application/proto", PushBody(1, CpuPprof()), small, recorder.deliver(), kNow);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(code(r), "resource_exhausted");
  r = HandlePush("application/proto", PushBody(kMaxPushProfiles + 1, "x"), Context(),
                 recorder.deliver(), kNow);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(recorder.uploads.empty());
  recorder.next =
      Status::TooLarge("disk queue: a record of 9 bytes exceeds the capacity of 8 bytes");
  r = HandlePush("application/proto", PushBody(1, CpuPprof()), Context(), recorder.deliver(), kNow);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(code(r), "unavailable");
  recorder.next = Status::FromErrno("disk queue: write", EIO);
  r = HandlePush("application/proto", PushBody(1, CpuPprof()), Context(), recorder.deliver(), kNow);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(code(r), "internal");
}

}  // namespace
}  // namespace profkit::pyroscope
