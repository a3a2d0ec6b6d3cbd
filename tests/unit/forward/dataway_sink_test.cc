#include "profkit/forward/dataway_sink.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "fake_dataway.h"

namespace profkit::forward {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::FakeDataway;
using testing::Gate;
using testing::RefusingPort;
using testing::WaitFor;

DatawayOptions Options(int port) {
  DatawayOptions options;
  options.url = fmt::format("http://127.0.0.1:{}/any/path?token=tkn_1&a=b", port);
  options.send_timeout = seconds(10);
  options.initial_backoff = milliseconds(1);
  options.max_backoff = milliseconds(5);
  return options;
}

std::unique_ptr<DatawaySink> MakeSink(const DatawayOptions& options) {
  Result<std::unique_ptr<DatawaySink>> sink = DatawaySink::Create(options);
  EXPECT_TRUE(sink.ok()) << sink.status().message();
  return sink.ok() ? std::move(sink).value() : nullptr;
}

ProfileUpload Upload(std::string service, size_t size = 16) {
  ProfileUpload upload;
  upload.service = std::move(service);
  upload.env = "prod,eu";
  upload.host = "web-1";
  upload.extra_tags = {{"runtime", "cpython,3.11"}};
  upload.start_unix_nanos = 1'700'000'000'000'000'000;
  upload.end_unix_nanos = 1'700'000'060'000'000'000;
  upload.attachments = {{"cpu.pprof", "application/octet-stream", std::string(size, 'p')}};
  return upload;
}

// The service of each received upload, read back from its event part.
std::vector<std::string> ReceivedServices(FakeDataway& server) {
  std::vector<std::string> services;
  for (const testing::RecordedRequest& request : server.requests()) {
    for (const auto& file : request.files) {
      if (file.name != "event") continue;
      const std::string tags = nlohmann::json::parse(file.content)["tags_profiler"];
      services.push_back(tags.substr(8, tags.find(',') - 8));
    }
  }
  return services;
}

steady_clock::time_point In(milliseconds duration) { return steady_clock::now() + duration; }

TEST(DatawaySinkTest, UploadsMultipartToTheProfilingEndpoint) {
  FakeDataway server;
  const auto sink = MakeSink(Options(server.Start()));
  sink->Submit(Upload("api"));
  sink->Flush(In(seconds(30)));

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const testing::RecordedRequest& request = requests[0];
  EXPECT_EQ(request.target, "/v1/upload/profiling?a=b&token=tkn_1");
  EXPECT_EQ(request.user_agent, "profkit");
  const std::string prefix = "multipart/form-data; boundary=profkit-";
  EXPECT_EQ(request.content_type.rfind(prefix, 0), 0u) << request.content_type;
  EXPECT_EQ(request.content_type.size(), prefix.size() + 32);

  ASSERT_EQ(request.files.size(), 2u);
  const auto& attachment = request.files[0];  // sorted by name: "cpu.pprof" < "event"
  EXPECT_EQ(attachment.name, "cpu.pprof");
  EXPECT_EQ(attachment.filename, "cpu.pprof");
  EXPECT_EQ(attachment.content_type, "application/octet-stream");
  EXPECT_EQ(attachment.content, std::string(16, 'p'));
  const auto& event = request.files[1];
  EXPECT_EQ(event.name, "event");
  EXPECT_EQ(event.filename, "event.json");
  EXPECT_EQ(event.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(event.content), nlohmann::json::parse(R"({
      "format": "pprof", "profiler": "profkit", "attachments": ["cpu.pprof"], "language": "cpp",
      "tags_profiler": "service:api,env:prod_eu,host:web-1,runtime:cpython_3.11",
      "start": "2023-11-14T22:13:20.000000000Z", "end": "2023-11-14T22:14:20.000000000Z"})"));

  const DatawaySink::Counters counters = sink->counters();
  EXPECT_EQ(counters.sent, 1u);
  EXPECT_EQ(counters.retries, 0u);
  EXPECT_EQ(counters.queued_bytes, 0u);
}

TEST(DatawaySinkTest, RetriesServerErrorsThenSucceeds) {
  FakeDataway server([](size_t index, const Gate&) { return index < 2 ? 500 : 200; });
  const auto sink = MakeSink(Options(server.Start()));
  sink->Submit(Upload("api"));
  sink->Flush(In(seconds(30)));
  EXPECT_EQ(server.requests().size(), 3u);
  const DatawaySink::Counters counters = sink->counters();
  EXPECT_EQ(counters.sent, 1u);
  EXPECT_EQ(counters.retries, 2u);
  EXPECT_EQ(counters.dropped_permanent, 0u);
}

TEST(DatawaySinkTest, RetriesTooManyRequests) {
  FakeDataway server([](size_t index, const Gate&) { return index == 0 ? 429 : 200; });
  const auto sink = MakeSink(Options(server.Start()));
  sink->Submit(Upload("api"));
  sink->Flush(In(seconds(30)));
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(sink->counters().sent, 1u);
  EXPECT_EQ(sink->counters().retries, 1u);
}

TEST(DatawaySinkTest, DropsPermanentRejections) {
  FakeDataway server([](size_t index, const Gate&) { return index == 0 ? 400 : 200; });
  const auto sink = MakeSink(Options(server.Start()));
  sink->Submit(Upload("bad"));
  sink->Submit(Upload("good"));
  sink->Flush(In(seconds(30)));
  EXPECT_EQ(ReceivedServices(server), (std::vector<std::string>{"bad", "good"}));
  const DatawaySink::Counters counters = sink->counters();
  EXPECT_EQ(counters.dropped_permanent, 1u);
  EXPECT_EQ(counters.sent, 1u);
  EXPECT_EQ(counters.retries, 0u);
  EXPECT_EQ(counters.queued_bytes, 0u);
}

TEST(DatawaySinkTest, ServerDownThenUpLosesNothing) {
  FakeDataway server;  // outlives the sink, whose keep-alive connection would delay its stop
  RefusingPort down;
  ASSERT_GT(down.port(), 0);
  DatawayOptions options = Options(down.port());
  options.max_attempts = 2;  // several rounds through the queue while down
  const auto sink = MakeSink(options);
  for (const char* service : {"s0", "s1", "s2"}) sink->Submit(Upload(service));
  // Two full rounds of every upload failed.
  ASSERT_TRUE(WaitFor([&] { return sink->counters().retries >= 2 * 3 * 2; }));

  down.Release();
  ASSERT_EQ(server.Start(down.port()), down.port());
  sink->Flush(In(seconds(30)));
  std::vector<std::string> services = ReceivedServices(server);
  std::sort(services.begin(), services.end());
  EXPECT_EQ(services, (std::vector<std::string>{"s0", "s1", "s2"}));
  const DatawaySink::Counters counters = sink->counters();
  EXPECT_EQ(counters.sent, 3u);
  EXPECT_EQ(counters.dropped_overflow + counters.dropped_permanent + counters.dropped_shutdown, 0u);
  EXPECT_EQ(counters.queued_bytes, 0u);
}

TEST(DatawaySinkTest, OverflowDropsTheOldestQueuedUpload) {
  FakeDataway server([](size_t index, const Gate& gate) {
    if (index == 0) gate.Wait();
    return 200;
  });
  DatawayOptions options = Options(server.Start());
  const size_t upload_bytes = BuildMultipartUpload(Upload("u0", 10000)).body.size();
  // One in flight plus three queued is one too many.
  options.max_queued_bytes = upload_bytes * 7 / 2;
  const auto sink = MakeSink(options);
  sink->Submit(Upload("u0", 10000));
  ASSERT_TRUE(server.WaitForRequests(1));
  for (const char* service : {"u1", "u2", "u3"}) sink->Submit(Upload(service, 10000));
  EXPECT_EQ(sink->counters().dropped_overflow, 1u);
  EXPECT_EQ(sink->counters().queued_bytes, 3 * upload_bytes);

  server.OpenGate();
  sink->Flush(In(seconds(30)));
  EXPECT_EQ(ReceivedServices(server), (std::vector<std::string>{"u0", "u2", "u3"}));
  EXPECT_EQ(sink->counters().sent, 3u);
  EXPECT_EQ(sink->counters().queued_bytes, 0u);
}

TEST(DatawaySinkTest, FlushGivesUpPromptlyDuringBackoff) {
  FakeDataway server([](size_t, const Gate&) { return 503; });
  DatawayOptions options = Options(server.Start());
  options.initial_backoff = options.max_backoff = seconds(60);
  const auto sink = MakeSink(options);
  sink->Submit(Upload("api"));
  ASSERT_TRUE(server.WaitForRequests(1));
  const auto start = steady_clock::now();
  sink->Flush(start + milliseconds(200));
  const auto elapsed = steady_clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(200));
  EXPECT_LT(elapsed, seconds(2));
  const DatawaySink::Counters counters = sink->counters();
  EXPECT_EQ(counters.dropped_shutdown, 1u);
  EXPECT_EQ(counters.sent, 0u);
  EXPECT_EQ(counters.queued_bytes, 0u);
}

TEST(DatawaySinkTest, FlushAndShutdownCancelAHangingRequest) {
  FakeDataway server([](size_t index, const Gate& gate) {
    if (index < 2) gate.Wait();
    return 200;
  });
  auto sink = MakeSink(Options(server.Start()));
  sink->Submit(Upload("first"));
  ASSERT_TRUE(server.WaitForRequests(1));
  const auto start = steady_clock::now();
  sink->Flush(start + milliseconds(200));
  EXPECT_LT(steady_clock::now() - start, seconds(2));
  EXPECT_EQ(sink->counters().dropped_shutdown, 1u);

  // The sink keeps working after a flush; destroying it cancels the request in flight.
  sink->Submit(Upload("second"));
  ASSERT_TRUE(server.WaitForRequests(2));
  const auto destroy_start = steady_clock::now();
  sink.reset();
  EXPECT_LT(steady_clock::now() - destroy_start, seconds(2));
}

TEST(DatawaySinkTest, CreateValidates) {
  DatawayOptions options = Options(1);
  options.url = "ftp://host/?token=secret";
  EXPECT_FALSE(DatawaySink::Create(options).ok());
  options = Options(1);
  options.max_attempts = 0;
  EXPECT_FALSE(DatawaySink::Create(options).ok());
  options = Options(1);
  options.max_backoff = milliseconds(0);
  EXPECT_FALSE(DatawaySink::Create(options).ok());
}

}  // namespace
}  // namespace profkit::forward
