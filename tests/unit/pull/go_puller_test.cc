// The target states against a local HTTP server that misbehaves on purpose.
#include "profkit/pull/go_puller.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <mutex>

#include "profkit/common/compression.h"
#include "pull_test_util.h"

namespace profkit::pull {

using config::GoProfileType;
using config::GoTarget;

namespace {

TEST(TargetStateTrackerTest, ReportsEachChangeOnce) {
  TargetStateTracker tracker;
  EXPECT_TRUE(tracker.Update(TargetState::kUnreachable));
  EXPECT_FALSE(tracker.Update(TargetState::kUnreachable));
  EXPECT_TRUE(tracker.Update(TargetState::kUp));
  EXPECT_FALSE(tracker.Update(TargetState::kUp));
  EXPECT_TRUE(tracker.Update(TargetState::kGarbage));
  EXPECT_EQ(tracker.state(), TargetState::kGarbage);
}

TEST(TargetStateTest, FetchErrorsMapToStates) {
  EXPECT_EQ(StateFromFetchError(FetchErrorKind::kTimeout), TargetState::kTimeout);
  EXPECT_EQ(StateFromFetchError(FetchErrorKind::kHttpStatus), TargetState::kHttpError);
  EXPECT_EQ(StateFromFetchError(FetchErrorKind::kTooLarge), TargetState::kGarbage);
  EXPECT_EQ(StateFromFetchError(FetchErrorKind::kUnreachable), TargetState::kUnreachable);
}

class FakeTarget {
 public:
  FakeTarget() {
    server_.Get("/debug/pprof/goroutine", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      res.status = status_;
      res.set_content(body_, "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the accept loop runs would be lost; bound sockets already queue clients.
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeTarget() {
    server_.stop();
    thread_.join();
  }
  void Answer(int status, std::string body) {
    std::lock_guard lock(mutex_);
    status_ = status;
    body_ = std::move(body);
  }
  GoTarget Target() const {
    GoTarget target;
    target.url = "http://127.0.0.1:" + std::to_string(port_);
    target.enabled_types = {GoProfileType::kGoroutine};
    return target;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  int status_ = 200;
  std::string body_;
};

FetchError FetchOnce(const GoTarget& target) {
  PprofFetcher fetcher(target, nullptr);
  FetchedProfile fetched;
  FetchError error;
  if (fetcher.Fetch(GoProfileType::kGoroutine, std::chrono::seconds(1), &fetched, &error)) {
    return {};
  }
  return error;
}

TEST(PprofFetcherTest, ClassifiesFailures) {
  FakeTarget fake;
  fake.Answer(500, "boom");
  FetchError error = FetchOnce(fake.Target());
  EXPECT_EQ(error.kind, FetchErrorKind::kHttpStatus);
  EXPECT_NE(error.message.find("HTTP status 500"), std::string::npos) << error.message;

  fake.Answer(200, std::string(kMaxProfileBodyBytes + 1, 'x'));
  EXPECT_EQ(FetchOnce(fake.Target()).kind, FetchErrorKind::kTooLarge);

  fake.Answer(200, *GzipCompress(testing::BuildProfile({"goroutine"}, {{{"main"}, {1}, ""}}, 1)));
  EXPECT_EQ(FetchOnce(fake.Target()).kind, FetchErrorKind::kNone);
}

TEST(PprofFetcherTest, CancelAbortsTheTransfer) {
  FakeTarget fake;
  fake.Answer(200, "x");
  const std::atomic<bool> cancel{true};
  PprofFetcher fetcher(fake.Target(), &cancel);
  FetchedProfile fetched;
  FetchError error;
  EXPECT_FALSE(fetcher.Fetch(GoProfileType::kGoroutine, std::chrono::seconds(1), &fetched, &error));
  EXPECT_EQ(error.kind, FetchErrorKind::kCancelled);
}

TEST(PprofFetcherTest, ClosedPortIsUnreachable) {
  GoTarget target;
  {
    FakeTarget fake;  // a port that was just free and is closed again
    target = fake.Target();
  }
  EXPECT_EQ(FetchOnce(target).kind, FetchErrorKind::kUnreachable);
}

TEST(GoPullerTest, FirstRoundRunsAtStartAndGarbageIsAState) {
  FakeTarget fake;
  fake.Answer(200, "not a profile");
  std::mutex mutex;
  std::condition_variable done;
  int uploads = 0;
  GoPuller puller(
      fake.Target(),
      [&](forward::ProfileUpload, std::optional<int64_t>) {
        std::lock_guard lock(mutex);
        ++uploads;
        done.notify_all();
      },
      nullptr);
  puller.Start();
  // The first round is immediate; wait for it to finish through the counters.
  while (puller.counters().rounds_failed.load() + puller.counters().rounds_ok.load() == 0) {
    std::this_thread::yield();
  }
  puller.Stop();
  EXPECT_EQ(puller.state(), TargetState::kGarbage);
  EXPECT_EQ(uploads, 0);
}

TEST(GoPullerTest, UploadsAGoodRoundWithTheGoroutineCount) {
  FakeTarget fake;
  fake.Answer(200, *GzipCompress(testing::BuildProfile(
                       {"goroutine"}, {{{"main"}, {1}, ""}, {{"park"}, {4}, ""}}, 1)));
  std::mutex mutex;
  std::condition_variable done;
  std::optional<int64_t> count;
  std::vector<std::string> names;
  GoPuller puller(
      fake.Target(),
      [&](forward::ProfileUpload upload, std::optional<int64_t> n) {
        std::lock_guard lock(mutex);
        count = n;
        for (const auto& a : upload.attachments) names.push_back(a.name);
        done.notify_all();
      },
      nullptr);
  puller.Start();
  {
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return count.has_value(); });
  }
  puller.Stop();
  EXPECT_EQ(count, 5);
  EXPECT_EQ(names, std::vector<std::string>{"goroutines.pprof"});
  EXPECT_EQ(puller.state(), TargetState::kUp);
}

TEST(GoPullerTest, PausedPullerDoesNotPull) {
  FakeTarget fake;
  std::atomic<bool> paused{true};
  GoPuller puller(
      fake.Target(), [](forward::ProfileUpload, std::optional<int64_t>) {}, &paused);
  puller.Start();
  puller.Stop();
  EXPECT_EQ(puller.counters().rounds_ok.load() + puller.counters().rounds_failed.load(), 0);
  EXPECT_EQ(puller.state(), TargetState::kUnknown);
}

TEST(GoPullerTest, WakeAfterResumePullsWithoutWaitingForTheTick) {
  FakeTarget fake;
  fake.Answer(200, *GzipCompress(testing::BuildProfile({"goroutine"}, {{{"main"}, {2}, ""}}, 1)));
  std::atomic<bool> paused{true};
  std::mutex mutex;
  std::condition_variable done;
  std::optional<int64_t> count;
  GoPuller puller(
      fake.Target(),
      [&](forward::ProfileUpload, std::optional<int64_t> n) {
        std::lock_guard lock(mutex);
        count = n;
        done.notify_all();
      },
      &paused);
  puller.Start();
  paused = false;
  puller.Wake();  // the next tick is 10 s away; the wait below would time the test out
  {
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return count.has_value(); });
  }
  puller.Stop();
  EXPECT_EQ(count, 2);
}

}  // namespace
}  // namespace profkit::pull
