#include "profkit/pyroscope/server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <vector>

#include "profkit/common/compression.h"
#include "profkit/profile/pprof_builder.h"
#include "pyroscope/push.pb.h"

namespace profkit::pyroscope {
namespace {

class PyroscopeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ListenerContext context;
    context.input.host = "127.0.0.1";
    context.input.port = 0;
    context.agent_host = "h";
    context.body_limit = 64 << 10;
    Result<std::unique_ptr<Server>> server =
        Server::Start(context, [this](const forward::ProfileUpload& upload) {
          std::lock_guard lock(mutex_);
          uploads_.push_back(upload);
          return Status::Ok();
        });
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::move(server).value();
  }
  std::vector<forward::ProfileUpload> Uploads() {
    std::lock_guard lock(mutex_);
    return uploads_;
  }

  std::mutex mutex_;
  std::vector<forward::ProfileUpload> uploads_;
  std::unique_ptr<Server> server_;
};

std::string Pprof() {
  profile::PprofBuilder builder({.sample_types = {{"samples", "count"}}});
  const uint64_t loc = builder.AddLocation({.lines = {{.function_name = "f"}}});
  const std::vector<int64_t> one = {1};
  builder.AddSample(std::span(&loc, 1), one, {});
  return builder.SerializeUncompressed();
}

TEST_F(PyroscopeServerTest, FoldedMultipartAndGzipEncodedBodies) {
  httplib::Client client("127.0.0.1", server_->port());
  auto result = client.Post("/ingest?name=app%7Benv%3Ddev%7D&spyName=pyspy&from=1700000000",
                            "a;b 3\n", "text/plain");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->body, "");

  const httplib::MultipartFormDataItems items = {
      {"profile", *GzipCompress(Pprof()), "profile", "application/octet-stream"}};
  result = client.Post("/ingest?name=node&spyName=nodespy", items);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;

  httplib::Headers headers = {{"Content-Encoding", "gzip"}};
  result = client.Post("/ingest?name=rs&format=folded", headers, *GzipCompress("x;y 1\n"),
                       "binary/octet-stream");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;

  const std::vector<forward::ProfileUpload> uploads = Uploads();
  ASSERT_EQ(uploads.size(), 3u);
  EXPECT_EQ(uploads[0].service, "app");
  EXPECT_EQ(uploads[0].env, "dev");
  EXPECT_EQ(uploads[1].language, "nodejs");
  EXPECT_EQ(uploads[2].service, "rs");
  EXPECT_EQ(server_->counters().accepted, 3u);
}

TEST_F(PyroscopeServerTest, PushOverConnect) {
  PushRequest request;
  RawProfileSeries* series = request.add_series();
  LabelPair* label = series->add_labels();
  label->set_name("service_name");
  label->set_value("pushed");
  series->add_samples()->set_raw_profile(Pprof());
  httplib::Client client("127.0.0.1", server_->port());
  httplib::Headers headers = {{"Content-Encoding", "gzip"}};
  const auto result = client.Post("/push.v1.PusherService/Push", headers,
                                  *GzipCompress(request.SerializeAsString()), "application/proto");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200) << result->body;
  ASSERT_EQ(Uploads().size(), 1u);
  EXPECT_EQ(Uploads()[0].service, "pushed");
}

TEST_F(PyroscopeServerTest, OversizedBodiesAndBadRequests) {
  httplib::Client client("127.0.0.1", server_->port());
  auto result = client.Post("/ingest?name=a", std::string(100 << 10, 'x'), "text/plain");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 413);
  // A body that inflates past the limit is cut off too.
  httplib::Headers headers = {{"Content-Encoding", "gzip"}};
  result = client.Post("/ingest?name=a", headers, *GzipCompress(std::string(200 << 10, 'a')),
                       "text/plain");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 413);
  result = client.Post("/ingest", "a 1\n", "text/plain");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400);
  EXPECT_EQ(result->body, "name: required (e.g. name=my-app{env=dev})\n");
  result =
      client.Post("/push.v1.PusherService/Push", std::string(100 << 10, 'x'), "application/proto");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 413);
  result = client.Post("/other", "x", "text/plain");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  EXPECT_TRUE(Uploads().empty());
  EXPECT_EQ(server_->counters().rejected, 4u);
}

TEST(PyroscopeServerStartTest, AddressInUseIsAnError) {
  ListenerContext context;
  context.input.host = "127.0.0.1";
  const auto deliver = [](const forward::ProfileUpload&) { return Status::Ok(); };
  Result<std::unique_ptr<Server>> first = Server::Start(context, deliver);
  ASSERT_TRUE(first.ok());
  context.input.port = (*first)->port();
  const Result<std::unique_ptr<Server>> second = Server::Start(context, deliver);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on 127.0.0.1"), std::string::npos);
}

}  // namespace
}  // namespace profkit::pyroscope
