#include "profkit/ingest/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <vector>

#include "fixture.h"

namespace profkit::ingest {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.port = 0;
    options.body_limit = 64 << 10;
    Result<std::unique_ptr<Server>> server =
        Server::Start(options, [this](const RewrittenUpload& upload) {
          std::lock_guard lock(mutex_);
          queued_.push_back(upload.service);
          return Status::Ok();
        });
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
  }
  size_t Queued() {
    std::lock_guard lock(mutex_);
    return queued_.size();
  }

  std::mutex mutex_;
  std::vector<std::string> queued_;  // services
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, ChunkedUploadsOnOneKeepAliveConnection) {
  httplib::Client client("127.0.0.1", server_->port());
  client.set_keep_alive(true);
  const std::string body = testing::FixtureBody();
  for (int i = 0; i < 3; ++i) {
    // A content provider without a length makes the client send Transfer-Encoding: chunked,
    // in pieces, as dd-trace-js does.
    const auto result = client.Post(
        "/profiling/v1/input",
        [&](size_t offset, httplib::DataSink& sink) {
          const size_t n = std::min<size_t>(1000, body.size() - offset);
          sink.write(body.data() + offset, n);
          if (offset + n == body.size()) sink.done();
          return true;
        },
        testing::kFixtureContentType);
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    EXPECT_EQ(result->status, 200) << result->body;
  }
  EXPECT_EQ(Queued(), 3u);
  EXPECT_EQ(server_->counters().accepted, 3u);
}

TEST_F(ServerTest, OversizeBodiesGet413) {
  httplib::Client client("127.0.0.1", server_->port());
  const std::string big =
      "--6f6355e8d3c54f4b\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a\"\r\n\r\n" +
      std::string(100 << 10, 'x') + "\r\n--6f6355e8d3c54f4b--\r\n";
  auto result = client.Post("/profiling/v1/input", big, testing::kFixtureContentType);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 413);
  result = client.Post(
      "/profiling/v1/input",
      [&](size_t offset, httplib::DataSink& sink) {
        const size_t n = std::min<size_t>(8192, big.size() - offset);
        sink.write(big.data() + offset, n);
        if (offset + n == big.size()) sink.done();
        return true;
      },
      testing::kFixtureContentType);
  // The server answers 413 once the chunks pass the limit and closes the connection: a client
  // still writing chunks then fails to send the rest (Error::Write) and never reads the answer.
  if (result) {
    EXPECT_EQ(result->status, 413);
  } else {
    EXPECT_EQ(result.error(), httplib::Error::Write) << httplib::to_string(result.error());
  }
  EXPECT_EQ(Queued(), 0u);
}

TEST_F(ServerTest, TracerEndpointsAnswerCheaply) {
  httplib::Client client("127.0.0.1", server_->port());
  auto info = client.Get("/info");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, 200);
  EXPECT_NE(info->body.find("\"/profiling/v1/input\""), std::string::npos) << info->body;
  for (const char* path : {"/v0.4/traces", "/v0.5/traces"}) {
    auto put = client.Put(path, "[]", "application/msgpack");
    ASSERT_TRUE(put);
    EXPECT_EQ(put->status, 200);
    EXPECT_EQ(put->body, R"({"rate_by_service":{}})");
  }
  auto config = client.Post("/v0.7/config", "{}", "application/json");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->status, 200);
  auto telemetry = client.Post("/telemetry/proxy/api/v2/apmtelemetry", "{}", "application/json");
  ASSERT_TRUE(telemetry);
  EXPECT_EQ(telemetry->status, 200);
  auto unknown = client.Post("/nope", "{}", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(server_->counters().tracer_requests, 5u);
}

TEST_F(ServerTest, AddressInUseIsAClearError) {
  ServerOptions options;
  options.port = server_->port();
  const auto second = Server::Start(options, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on 127.0.0.1:"), std::string::npos);
}

}  // namespace
}  // namespace profkit::ingest
