// The election's reply parsing, URLs and state machine against a local fake Dataway.
#include "profkit/forward/election.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace profkit::forward {
namespace {

using namespace std::chrono_literals;

TEST(ParseElectionReplyTest, SuccessAndDefeat) {
  Result<ElectionReply> won = ParseElectionReply(
      R"({"content":{"status":"success","id":"h1","namespace":"default","interval":7}})");
  ASSERT_TRUE(won.ok()) << won.status().message();
  EXPECT_TRUE(won->leader);
  EXPECT_EQ(won->interval, 7s);

  Result<ElectionReply> lost = ParseElectionReply(
      R"({"content":{"status":"defeat","incumbency_id":"h2","error_msg":"busy","interval":3}})");
  ASSERT_TRUE(lost.ok()) << lost.status().message();
  EXPECT_FALSE(lost->leader);
  EXPECT_EQ(lost->incumbency_id, "h2");
  EXPECT_EQ(lost->error_msg, "busy");
}

TEST(ParseElectionReplyTest, IntervalIsClampedAndDefaulted) {
  // DataKit's ticker panics on 0.
  EXPECT_EQ(ParseElectionReply(R"({"content":{"status":"defeat","interval":0}})")->interval,
            kMinElectionInterval);
  EXPECT_EQ(ParseElectionReply(R"({"content":{"status":"defeat","interval":1e12}})")->interval,
            kMaxElectionInterval);
  EXPECT_EQ(ParseElectionReply(R"({"content":{"status":"defeat"}})")->interval,
            kDefaultElectionInterval);
}

TEST(ParseElectionReplyTest, RejectsGarbage) {
  for (const char* body :
       {"", "not json", "[]", R"({"status":"success"})", R"({"content":"success"})",
        R"({"content":{"status":"won"}})", R"({"content":{"status":1}})"}) {
    EXPECT_FALSE(ParseElectionReply(body).ok()) << body;
  }
}

TEST(ElectionUrlTest, AddsNamespaceAndIdToTheDatawayQuery) {
  Result<std::string> url = ElectionUrl("https://dw.example:9528/some/path?token=tkn_1",
                                        kElectionHeartbeatPath, "ns one", "host&1");
  ASSERT_TRUE(url.ok()) << url.status().message();
  EXPECT_EQ(
      *url,
      "https://dw.example:9528/v1/election/heartbeat?token=tkn_1&namespace=ns+one&id=host%261");
}

TEST(ElectionUrlTest, NeedsAToken) {
  for (const char* dataway : {"http://dw:9528", "http://dw:9528/?token=", "http://dw/?tokens=x"}) {
    Result<std::string> url = ElectionUrl(dataway, kElectionPath, "default", "h");
    ASSERT_FALSE(url.ok()) << dataway;
    EXPECT_NE(url.status().message().find("token"), std::string::npos) << url.status().message();
  }
}

// Answers /v1/election and /v1/election/heartbeat with what the test sets.
class FakeElectionServer {
 public:
  FakeElectionServer() {
    server_.Post(".*", [this](const httplib::Request& request, httplib::Response& response) {
      std::lock_guard lock(mutex_);
      const bool heartbeat = request.path == kElectionHeartbeatPath;
      targets_.push_back(request.target);
      response.status = heartbeat ? heartbeat_http_ : 200;
      response.set_content(fmt::format(R"({{"content":{{"status":"{}","interval":1}}}})",
                                       heartbeat ? heartbeat_status_ : election_status_),
                           "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeElectionServer() {
    server_.stop();
    thread_.join();
  }
  void Answer(std::string election, std::string heartbeat, int heartbeat_http = 200) {
    std::lock_guard lock(mutex_);
    election_status_ = std::move(election);
    heartbeat_status_ = std::move(heartbeat);
    heartbeat_http_ = heartbeat_http;
  }
  std::vector<std::string> targets() {
    std::lock_guard lock(mutex_);
    return targets_;
  }
  std::string url() const { return fmt::format("http://127.0.0.1:{}/?token=tkn_t", port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::string election_status_ = "defeat", heartbeat_status_ = "success";
  int heartbeat_http_ = 200;
  std::vector<std::string> targets_;
};

// Records the leadership changes the election reports.
class Changes {
 public:
  DatawayElection::OnChange Callback() {
    return [this](bool leader) {
      std::lock_guard lock(mutex_);
      changes_.push_back(leader);
      changed_.notify_all();
    };
  }
  // Waits (bounded) until `count` changes arrived; returns them.
  std::vector<bool> WaitFor(size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 30s, [&] { return changes_.size() >= count; });
    return changes_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<bool> changes_;
};

TEST(DatawayElectionTest, LeadsWhenElectedAndStepsDownOnDefeat) {
  FakeElectionServer server;
  server.Answer("success", "defeat");
  Changes changes;
  Result<std::unique_ptr<DatawayElection>> election = DatawayElection::Start(
      {.dataway_url = server.url(), .election_namespace = "ns", .id = "me"}, changes.Callback());
  ASSERT_TRUE(election.ok()) << election.status().message();
  EXPECT_EQ(changes.WaitFor(2), (std::vector<bool>{true, false}));
  election->reset();
  const std::vector<std::string> targets = server.targets();
  ASSERT_GE(targets.size(), 2u);
  EXPECT_EQ(targets[0], "/v1/election?token=tkn_t&namespace=ns&id=me");
  EXPECT_EQ(targets[1], "/v1/election/heartbeat?token=tkn_t&namespace=ns&id=me");
}

TEST(DatawayElectionTest, StaysCandidateWhileDefeated) {
  FakeElectionServer server;
  Changes changes;
  auto election =
      DatawayElection::Start({.dataway_url = server.url(), .id = "me"}, changes.Callback());
  ASSERT_TRUE(election.ok());
  // Two election requests, one interval (1 s) apart, and still no change.
  while (server.targets().size() < 2) std::this_thread::yield();
  EXPECT_FALSE((*election)->leader());
  election->reset();
  EXPECT_TRUE(changes.WaitFor(0).empty());
}

TEST(DatawayElectionTest, LeaderStepsDownAfterFailedHeartbeats) {
  FakeElectionServer server;
  server.Answer("success", "success", /*heartbeat_http=*/503);
  Changes changes;
  auto election = DatawayElection::Start(
      {.dataway_url = server.url(), .id = "me", .retry_interval = 10ms}, changes.Callback());
  ASSERT_TRUE(election.ok());
  EXPECT_EQ(changes.WaitFor(2), (std::vector<bool>{true, false}));
  EXPECT_EQ((*election)->counters().failures.load(), kMaxFailedHeartbeats);
}

TEST(DatawayElectionTest, StopsPromptlyWhileWaiting) {
  FakeElectionServer server;
  server.Answer("success", "success");
  Changes changes;
  auto election =
      DatawayElection::Start({.dataway_url = server.url(), .id = "me"}, changes.Callback());
  ASSERT_TRUE(election.ok());
  changes.WaitFor(1);
  const auto start = std::chrono::steady_clock::now();
  election->reset();  // mid-interval
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

}  // namespace
}  // namespace profkit::forward
