// The node's pods, as the kubelet last listed them, kept fresh by a thread of its own: it
// refreshes every refresh_interval, and sooner when a container was not found (at most once per
// min_refresh_gap). A kubelet that is down, slow or answers garbage leaves the last good list in
// place; each change between working and failing is logged once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "profkit/common/status.h"
#include "profkit/kubernetes/pod_list.h"
#include "profkit/process/container_metadata.h"

namespace profkit::kubernetes {

struct PodCacheOptions {
  NodeContext node;
  std::chrono::nanoseconds refresh_interval = std::chrono::seconds(30);
  // Shortest time between two refreshes that a miss asked for.
  std::chrono::nanoseconds min_refresh_gap = std::chrono::seconds(2);
};

struct PodCacheCounters {
  uint64_t refreshes = 0;         // pod lists fetched and parsed
  uint64_t refresh_failures = 0;  // fetch or parse failed (the last good list stays)
  uint64_t miss_refreshes = 0;    // refreshes asked for by a miss
  uint64_t pods = 0;              // in the current list
  uint64_t containers = 0;        // in the current list
};

class PodCache : public process::ContainerMetadataSource {
 public:
  // The kubelet's /pods body, or why not; `cancel` becomes true on shutdown.
  using Fetch = std::function<Result<std::string>(const std::atomic<bool>& cancel)>;

  // Starts the refresh thread, which fetches at once.
  PodCache(PodCacheOptions options, Fetch fetch);
  ~PodCache() override;
  PodCache(const PodCache&) = delete;
  PodCache& operator=(const PodCache&) = delete;

  uint64_t generation() const override { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const process::ContainerMetadata> Find(std::string_view container_id) override;
  // The pod with this IP (a pushing tracer's address), or null.
  std::shared_ptr<const process::ContainerMetadata> FindPodByIp(std::string_view ip) const;

  // Whether a list was ever fetched.
  bool has_list() const { return generation() > 0; }
  PodCacheCounters counters() const;

  // Tests: blocks until `generation() >= generation` or `timeout` passed; true when reached.
  bool WaitForGeneration(uint64_t generation, std::chrono::milliseconds timeout) const;
  // Tests: blocks until `refreshes + refresh_failures >= attempts` or `timeout`.
  bool WaitForAttempts(uint64_t attempts, std::chrono::milliseconds timeout) const;

 private:
  void Run();
  void RefreshOnce(bool asked_by_miss);

  const PodCacheOptions options_;
  const Fetch fetch_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;  // list replaced, attempt done, miss or stop
  std::shared_ptr<const PodIndex> index_;    // guarded by mutex_
  bool miss_pending_ = false;                // guarded by mutex_
  // Container IDs that already asked for a refresh: an ID the list never has (a plain Docker
  // container on a node) asks once, not every min_refresh_gap. Guarded by mutex_, bounded.
  std::unordered_set<std::string> misses_asked_;
  size_t body_hash_ = 0;       // refresh thread only: an unchanged list keeps its generation
  PodCacheCounters counters_;  // guarded by mutex_
  Status last_status_;         // refresh thread only: for logging changes of state
  bool first_attempt_ = true;  // refresh thread only
  std::thread thread_;
};

}  // namespace profkit::kubernetes
