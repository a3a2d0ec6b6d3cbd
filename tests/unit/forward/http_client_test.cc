#include "profkit/common/http_client.h"

#include <gtest/gtest.h>

#include "fake_dataway.h"

namespace profkit {
namespace {

using forward::testing::FakeDataway;

using forward::testing::Gate;
using forward::testing::RefusingPort;

TEST(HttpClientTest, PostsAndReusesTheHandle) {
  FakeDataway server([](size_t index, const Gate&) { return index == 0 ? 200 : 503; });
  const int port = server.Start();
  HttpClient client;
  HttpRequest request;
  request.url = fmt::format("http://127.0.0.1:{}/v1/upload/profiling?token=t", port);
  request.headers = {{"Content-Type", "text/plain"}, {"User-Agent", "test"}};
  request.body = "hello";
  Result<HttpResponse> first = client.Post(request);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, R"({"content":{"profileID":"x"}})");
  Result<HttpResponse> second = client.Post(request);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->status, 503);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target, "/v1/upload/profiling?token=t");
  EXPECT_EQ(requests[0].body, "hello");
  EXPECT_EQ(requests[0].user_agent, "test");
}

TEST(HttpClientTest, TransportErrorNamesUrlWithoutQuery) {
  RefusingPort refusing;
  HttpClient client;
  HttpRequest request;
  request.url =
      fmt::format("http://127.0.0.1:{}/v1/upload/profiling?token=secret", refusing.port());
  const Result<HttpResponse> response = client.Post(request);
  ASSERT_FALSE(response.ok());
  const std::string message = response.status().message();
  EXPECT_EQ(message.rfind(
                fmt::format("POST http://127.0.0.1:{}/v1/upload/profiling: ", refusing.port()), 0),
            0u)
      << message;
  EXPECT_EQ(message.find("secret"), std::string::npos) << message;
}

TEST(HttpClientTest, RejectsHeaderInjection) {
  HttpClient client;
  HttpRequest request;
  request.url = "http://127.0.0.1:1/";
  request.headers = {{"X-A", "b\r\nX-Evil: 1"}};
  EXPECT_FALSE(client.Post(request).ok());
}

TEST(HttpClientTest, CancelStopsAHangingRequestPromptly) {
  FakeDataway server([](size_t, const Gate& gate) {
    gate.Wait();
    return 200;
  });
  const int port = server.Start();
  std::atomic<bool> cancel{false};
  auto posted = std::async(std::launch::async, [&] {
    HttpClient client;
    HttpRequest request;
    request.url = fmt::format("http://127.0.0.1:{}/", port);
    request.cancel = &cancel;
    return client.Post(request);
  });
  ASSERT_TRUE(server.WaitForRequests(1));
  const auto start = std::chrono::steady_clock::now();
  cancel = true;
  const Result<HttpResponse> response = posted.get();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().message(), fmt::format("POST http://127.0.0.1:{}/: cancelled", port));
}

}  // namespace
}  // namespace profkit
