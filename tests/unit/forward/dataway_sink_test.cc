#include "profkit/forward/dataway_sink.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "../testing/temp_dir.h"
#include "fake_dataway.h"
#include "profkit/forward/dataway_url.h"

namespace profkit::forward {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::FakeDataway;
using testing::Gate;
using testing::RefusingPort;
using testing::WaitFor;

DatawayOptions Options(int port, const std::string& queue_dir) {
  DatawayOptions options;
  options.url = fmt::format("http://127.0.0.1:{}/any/path?token=tkn_1&a=b", port);
  options.queue.dir = queue_dir;
  options.upload_workers = 1;
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

class DatawaySinkTest : public ::testing::Test {
 protected:
  std::string QueueDir() const { return dir_.path() + "/queue"; }
  profkit::testing::TempDir dir_;
};

TEST_F(DatawaySinkTest, UploadsMultipartToTheProfilingEndpoint) {
  FakeDataway server;
  const auto sink = MakeSink(Options(server.Start(), QueueDir()));
  ASSERT_TRUE(sink->EnqueueUpload(Upload("api")).ok());
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
  EXPECT_EQ(counters.failed_attempts, 0u);
  EXPECT_EQ(counters.queue.pending_records, 0u);
}

TEST_F(DatawaySinkTest, EnqueuedRequestsGoToTheirEndpoint) {
  FakeDataway server;
  const auto sink = MakeSink(Options(server.Start(), QueueDir()));
  ASSERT_TRUE(sink->Enqueue(QueuedRequest{std::string(kDatawayMetricPath), "text/plain", "api",
                                          "profiling_metrics,language=go x=1i 1\n"})
                  .ok());
  sink->Flush(In(seconds(30)));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/v1/write/metric?a=b&token=tkn_1");
  EXPECT_EQ(requests[0].content_type, "text/plain");
  EXPECT_EQ(requests[0].body, "profiling_metrics,language=go x=1i 1\n");
}

TEST_F(DatawaySinkTest, RetriesServerErrorsThenSucceeds) {
  FakeDataway server([](size_t index, const Gate&) { return index < 2 ? 500 : 200; });
  const auto sink = MakeSink(Options(server.Start(), QueueDir()));
  ASSERT_TRUE(sink->EnqueueUpload(Upload("api")).ok());
  sink->Flush(In(seconds(30)));
  EXPECT_EQ(server.requests().size(), 3u);
  const DatawaySink::Counters counters = sink->counters();
  EXPECT_EQ(counters.sent, 1u);
  EXPECT_EQ(counters.failed_attempts, 2u);
  EXPECT_EQ(counters.dropped_permanent, 0u);
}

TEST_F(DatawaySinkTest, RetriesTooManyRequests) {
  FakeDataway server([](size_t index, const Gate&) { return index == 0 ? 429 : 200; });
  const auto sink = MakeSink(Options(server.Start(), QueueDir()));
  ASSERT_TRUE(sink->EnqueueUpload(Upload("api")).ok());
  sink->Flush(In(seconds(30)));
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(sink->counters().sent, 1u);
  EXPECT_EQ(sink->counters().failed_attempts, 1u);
}

TEST_F(DatawaySinkTest, DropsPermanentRejections) {
  FakeDataway server([](size_t index, const Gate&) { return index == 0 ? 400 : 200; });
  const auto sink = MakeSink(Options(server.Start(), QueueDir()));
  ASSERT_TRUE(sink->EnqueueUpload(Upload("bad")).ok());
  ASSERT_TRUE(sink->EnqueueUpload(Upload("good")).ok());
  sink->Flush(In(seconds(30)));
  EXPECT_EQ(ReceivedServices(server), (std::vector<std::string>{"bad", "good"}));
  const DatawaySink::Counters counters = sink->counters();
  EXPECT_EQ(counters.dropped_permanent, 1u);
  EXPECT_EQ(counters.sent, 1u);
  EXPECT_EQ(counters.failed_attempts, 0u);
  EXPECT_EQ(counters.queue.pending_records, 0u);
}

TEST_F(DatawaySinkTest, ServerDownThenUpLosesNothing) {
  FakeDataway server;  // outlives the sink, whose keep-alive connection would delay its stop
  RefusingPort down;
  ASSERT_GT(down.port(), 0);
  DatawayOptions options = Options(down.port(), QueueDir());
  options.max_attempts = 2;  // several rounds through the queue while down
  options.upload_workers = 3;
  const auto sink = MakeSink(options);
  for (const char* service : {"s0", "s1", "s2"}) {
    ASSERT_TRUE(sink->EnqueueUpload(Upload(service)).ok());
  }
  // Two full rounds of every upload failed.
  ASSERT_TRUE(WaitFor([&] { return sink->counters().failed_attempts >= 2 * 3 * 2; }));
  EXPECT_GE(sink->counters().queue.released, 3u);

  down.Release();
  ASSERT_EQ(server.Start(down.port()), down.port());
  sink->Flush(In(seconds(30)));
  std::vector<std::string> services = ReceivedServices(server);
  std::sort(services.begin(), services.end());
  EXPECT_EQ(services, (std::vector<std::string>{"s0", "s1", "s2"}));
  const DatawaySink::Counters counters = sink->counters();
  EXPECT_EQ(counters.sent, 3u);
  EXPECT_EQ(counters.dropped_permanent + counters.queue.evicted_records, 0u);
  EXPECT_EQ(counters.queue.pending_records, 0u);
}

TEST_F(DatawaySinkTest, UndeliveredRecordsSurviveARestart) {
  RefusingPort down;
  ASSERT_GT(down.port(), 0);
  DatawayOptions options = Options(down.port(), QueueDir());
  options.initial_backoff = options.max_backoff = seconds(60);
  {
    const auto sink = MakeSink(options);
    for (const char* service : {"a", "b"}) {
      ASSERT_TRUE(sink->EnqueueUpload(Upload(service)).ok());
    }
    const auto start = steady_clock::now();
    sink->Flush(start + milliseconds(200));
    EXPECT_LT(steady_clock::now() - start, seconds(2));
    EXPECT_EQ(sink->counters().queue.pending_records, 2u);
  }  // destroying the sink is prompt despite the long backoff (the test would time out)

  FakeDataway server;
  options.url = fmt::format("http://127.0.0.1:{}/?token=tkn_1&a=b", server.Start());
  options.initial_backoff = options.max_backoff = milliseconds(1);
  const auto sink = MakeSink(options);
  EXPECT_EQ(sink->counters().queue.recovered, 2u);
  sink->Flush(In(seconds(30)));
  EXPECT_EQ(ReceivedServices(server), (std::vector<std::string>{"a", "b"}));
}

TEST_F(DatawaySinkTest, WorkersSendConcurrently) {
  // Both requests must be in flight together for either to be answered.
  std::atomic<int> arrived{0};
  FakeDataway server([&](size_t, const Gate& gate) {
    if (++arrived == 2) const_cast<Gate&>(gate).Open();
    gate.Wait();
    return 200;
  });
  DatawayOptions options = Options(server.Start(), QueueDir());
  options.upload_workers = 2;
  const auto sink = MakeSink(options);
  ASSERT_TRUE(sink->EnqueueUpload(Upload("x")).ok());
  ASSERT_TRUE(sink->EnqueueUpload(Upload("y")).ok());
  sink->Flush(In(seconds(30)));
  EXPECT_EQ(sink->counters().sent, 2u);
}

TEST_F(DatawaySinkTest, ShutdownCancelsAHangingRequest) {
  FakeDataway server([](size_t, const Gate& gate) {
    gate.Wait();
    return 200;
  });
  auto sink = MakeSink(Options(server.Start(), QueueDir()));
  ASSERT_TRUE(sink->EnqueueUpload(Upload("first")).ok());
  ASSERT_TRUE(server.WaitForRequests(1));
  const auto start = steady_clock::now();
  sink->Flush(start + milliseconds(200));
  sink.reset();
  EXPECT_LT(steady_clock::now() - start, seconds(2));
  // Still queued for the next start.
  auto queue = DiskQueue::Open(DiskQueueOptions{.dir = QueueDir()});
  ASSERT_TRUE(queue.ok());
  EXPECT_EQ((*queue)->counters().recovered, 1u);
}

TEST_F(DatawaySinkTest, CreateValidates) {
  DatawayOptions options = Options(1, QueueDir());
  options.url = "ftp://host/?token=secret";
  EXPECT_FALSE(DatawaySink::Create(options).ok());
  options = Options(1, QueueDir());
  options.max_attempts = 0;
  EXPECT_FALSE(DatawaySink::Create(options).ok());
  options = Options(1, QueueDir());
  options.max_backoff = milliseconds(0);
  EXPECT_FALSE(DatawaySink::Create(options).ok());
  options = Options(1, QueueDir());
  options.upload_workers = 0;
  EXPECT_FALSE(DatawaySink::Create(options).ok());
}

}  // namespace
}  // namespace profkit::forward
