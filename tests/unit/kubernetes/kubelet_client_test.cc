#include "profkit/kubernetes/kubelet_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "profkit/kubernetes/pod_list.h"
#include "testing/temp_dir.h"

namespace profkit::kubernetes {
namespace {

using ::testing::HasSubstr;

// A plain-HTTP kubelet on loopback: /pods answers `body` to the expected bearer token, 401 else.
class FakeKubelet {
 public:
  FakeKubelet() {
    server_.Get("/pods", [this](const httplib::Request& request, httplib::Response& response) {
      std::lock_guard lock(mutex_);
      seen_tokens_.push_back(request.get_header_value("Authorization"));
      if (request.get_header_value("Authorization") != "Bearer " + token_) {
        response.status = 401;
        return;
      }
      response.set_content(body_, content_type_);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeKubelet() {
    server_.stop();
    thread_.join();
  }
  void Set(std::string token, std::string body, std::string content_type = "application/json") {
    std::lock_guard lock(mutex_);
    token_ = std::move(token);
    body_ = std::move(body);
    content_type_ = std::move(content_type);
  }
  std::vector<std::string> seen_tokens() {
    std::lock_guard lock(mutex_);
    return seen_tokens_;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::string token_, body_, content_type_;
  std::vector<std::string> seen_tokens_;
};

class KubeletClientTest : public ::testing::Test {
 protected:
  void WriteToken(const std::string& text) { std::ofstream(token_file_) << text; }
  KubeletOptions Options() const {
    return KubeletOptions{.url = kubelet_.url(), .token_file = token_file_};
  }

  testing::TempDir temp_dir_;
  const std::string token_file_ = temp_dir_.path() + "/token";
  FakeKubelet kubelet_;
};

TEST_F(KubeletClientTest, SendsTheTokenReReadEveryTime) {
  kubelet_.Set("first", R"({"kind":"PodList","items":[]})");
  WriteToken("first\n");
  Result<std::string> body = FetchPodList(Options(), nullptr);
  ASSERT_TRUE(body.ok()) << body.status().message();
  EXPECT_EQ(*body, R"({"kind":"PodList","items":[]})");
  // The projected token rotates: the next request carries the new one.
  kubelet_.Set("second", "{}");
  WriteToken("second");
  ASSERT_TRUE(FetchPodList(Options(), nullptr).ok());
  EXPECT_EQ(kubelet_.seen_tokens(), (std::vector<std::string>{"Bearer first", "Bearer second"}));
}

TEST_F(KubeletClientTest, ErrorsSayWhatToFix) {
  kubelet_.Set("right", "{}");
  WriteToken("wrong");
  Result<std::string> denied = FetchPodList(Options(), nullptr);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.status().message(), HasSubstr("nodes/proxy"));

  Result<std::string> no_token = FetchPodList(
      KubeletOptions{.url = kubelet_.url(), .token_file = temp_dir_.path() + "/missing"}, nullptr);
  ASSERT_FALSE(no_token.ok());
  EXPECT_THAT(no_token.status().message(), HasSubstr("kubernetes.token_file"));

  WriteToken("two\nlines");
  EXPECT_THAT(FetchPodList(Options(), nullptr).status().message(), HasSubstr("single-line"));

  Result<std::string> down =
      FetchPodList(KubeletOptions{.url = "http://127.0.0.1:1", .token_file = ""}, nullptr);
  ASSERT_FALSE(down.ok());
  EXPECT_THAT(down.status().message(), HasSubstr("kubelet http://127.0.0.1:1/pods"));
}

TEST_F(KubeletClientTest, AnswersLargerThanThePodListLimitAreRefused) {
  // Not a type httplib compresses: the test is about the limit, not gzip's speed.
  kubelet_.Set("t", std::string(kMaxPodListBytes + 1, ' '), "application/octet-stream");
  WriteToken("t");
  Result<std::string> body = FetchPodList(Options(), nullptr);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), StatusCode::kTooLarge);
}

TEST_F(KubeletClientTest, ACancelledTransferEnds) {
  kubelet_.Set("t", "{}");
  WriteToken("t");
  const std::atomic<bool> cancel{true};
  EXPECT_FALSE(FetchPodList(Options(), &cancel).ok());
}

}  // namespace
}  // namespace profkit::kubernetes
