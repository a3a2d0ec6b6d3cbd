#include "profkit/kubernetes/pod_cache.h"

#include <gtest/gtest.h>

#include <mutex>

namespace profkit::kubernetes {
namespace {

using namespace std::chrono_literals;

std::string PodListWith(char id) {
  return R"({"kind":"PodList","items":[{"metadata":{"name":"p","namespace":"n"},
    "status":{"podIP":"10.0.0.9","containerStatuses":[{"name":"app","containerID":"containerd://)" +
         std::string(64, id) + R"("}]}}]})";
}

// What the fake kubelet answers next; every fetch is counted.
class FakeKubelet {
 public:
  void Answer(Result<std::string> answer) {
    std::lock_guard lock(mutex_);
    answer_ = std::move(answer);
  }
  PodCache::Fetch fetch() {
    return [this](const std::atomic<bool>&) -> Result<std::string> {
      std::lock_guard lock(mutex_);
      return answer_;
    };
  }

 private:
  std::mutex mutex_;
  Result<std::string> answer_ = Status::Unavailable("kubelet down");
};

// const, not constexpr: clang 14 (the fuzz/ASan tree) cannot evaluate libstdc++ 12's
// std::string constructor at compile time, and the options hold strings.
const PodCacheOptions kOptions{.refresh_interval = std::chrono::hours(1),
                               .min_refresh_gap = std::chrono::milliseconds(1)};

TEST(PodCacheTest, FetchesAtOnceAndFindsContainersAndPodIps) {
  FakeKubelet kubelet;
  kubelet.Answer(PodListWith('a'));
  PodCache cache(kOptions, kubelet.fetch());
  ASSERT_TRUE(cache.WaitForGeneration(1, 10s));
  ASSERT_NE(cache.Find(std::string(64, 'a')), nullptr);
  ASSERT_NE(cache.FindPodByIp("10.0.0.9"), nullptr);
  EXPECT_EQ(cache.FindPodByIp("10.0.0.10"), nullptr);
  EXPECT_EQ(cache.counters().containers, 1u);
}

TEST(PodCacheTest, AMissRefreshesOnceAndANewListIsANewGeneration) {
  FakeKubelet kubelet;
  kubelet.Answer(PodListWith('a'));
  PodCache cache(kOptions, kubelet.fetch());
  ASSERT_TRUE(cache.WaitForGeneration(1, 10s));
  kubelet.Answer(PodListWith('b'));
  EXPECT_EQ(cache.Find(std::string(64, 'b')), nullptr);
  ASSERT_TRUE(cache.WaitForGeneration(2, 10s));
  EXPECT_NE(cache.Find(std::string(64, 'b')), nullptr);
  EXPECT_EQ(cache.counters().miss_refreshes, 1u);
  // An ID no list has asks once per list, not on every lookup.
  EXPECT_EQ(cache.Find(std::string(64, 'c')), nullptr);
  ASSERT_TRUE(cache.WaitForAttempts(3, 10s));
  EXPECT_EQ(cache.Find(std::string(64, 'c')), nullptr);
  EXPECT_EQ(cache.generation(), 2u) << "the same list again is no new generation";
  EXPECT_FALSE(cache.WaitForAttempts(4, 200ms));
}

TEST(PodCacheTest, KubeletDownOrGarbageKeepsTheLastGoodList) {
  FakeKubelet kubelet;
  kubelet.Answer(PodListWith('a'));
  PodCache cache(kOptions, kubelet.fetch());
  ASSERT_TRUE(cache.WaitForGeneration(1, 10s));
  kubelet.Answer(std::string("<html>garbage"));
  (void)cache.Find(std::string(64, 'x'));
  ASSERT_TRUE(cache.WaitForAttempts(2, 10s));
  kubelet.Answer(Status::Unavailable("connection refused"));
  (void)cache.Find(std::string(64, 'y'));
  ASSERT_TRUE(cache.WaitForAttempts(3, 10s));
  EXPECT_EQ(cache.counters().refresh_failures, 2u);
  EXPECT_NE(cache.Find(std::string(64, 'a')), nullptr);
  EXPECT_EQ(cache.generation(), 1u);
}

TEST(PodCacheTest, NoListYet) {
  FakeKubelet kubelet;
  PodCache cache(kOptions, kubelet.fetch());
  ASSERT_TRUE(cache.WaitForAttempts(1, 10s));
  EXPECT_FALSE(cache.has_list());
  EXPECT_EQ(cache.Find(std::string(64, 'a')), nullptr);
  EXPECT_EQ(cache.FindPodByIp("10.0.0.9"), nullptr);
}

TEST(PodCacheTest, PeriodicRefresh) {
  FakeKubelet kubelet;
  kubelet.Answer(PodListWith('a'));
  PodCache cache(PodCacheOptions{.refresh_interval = 20ms}, kubelet.fetch());
  ASSERT_TRUE(cache.WaitForGeneration(1, 10s));
  kubelet.Answer(PodListWith('b'));
  ASSERT_TRUE(cache.WaitForGeneration(2, 10s));
}

}  // namespace
}  // namespace profkit::kubernetes
