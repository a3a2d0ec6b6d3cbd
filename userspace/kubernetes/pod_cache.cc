#include "profkit/kubernetes/pod_cache.h"

#include "profkit/common/clock.h"
#include "profkit/common/log.h"

namespace profkit::kubernetes {
namespace {

// Misses remembered before the set starts over (each then may ask once more).
constexpr size_t kMaxRememberedMisses = 4096;

}  // namespace

PodCache::PodCache(PodCacheOptions options, Fetch fetch)
    : options_(std::move(options)), fetch_(std::move(fetch)) {
  thread_ = std::thread([this] { Run(); });
}

PodCache::~PodCache() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true, std::memory_order_relaxed);
  }
  changed_.notify_all();
  thread_.join();
}

std::shared_ptr<const process::ContainerMetadata> PodCache::Find(std::string_view container_id) {
  std::lock_guard lock(mutex_);
  if (index_) {
    auto it = index_->containers.find(std::string(container_id));
    if (it != index_->containers.end()) return it->second;
  }
  if (misses_asked_.size() >= kMaxRememberedMisses) misses_asked_.clear();
  if (misses_asked_.emplace(container_id).second) {
    miss_pending_ = true;
    changed_.notify_all();
  }
  return nullptr;
}

std::shared_ptr<const process::ContainerMetadata> PodCache::FindPodByIp(std::string_view ip) const {
  std::lock_guard lock(mutex_);
  if (!index_) return nullptr;
  auto it = index_->pods_by_ip.find(std::string(ip));
  return it == index_->pods_by_ip.end() ? nullptr : it->second;
}

PodCacheCounters PodCache::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

bool PodCache::WaitForGeneration(uint64_t generation, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return this->generation() >= generation; });
}

bool PodCache::WaitForAttempts(uint64_t attempts, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(
      lock, timeout, [&] { return counters_.refreshes + counters_.refresh_failures >= attempts; });
}

void PodCache::Run() {
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_attempt = Clock::now();
  bool asked_by_miss = false;
  while (!stop_.load(std::memory_order_relaxed)) {
    RefreshOnce(asked_by_miss);
    last_attempt = Clock::now();
    std::unique_lock lock(mutex_);
    const Clock::time_point periodic = last_attempt + options_.refresh_interval;
    const Clock::time_point earliest_miss = last_attempt + options_.min_refresh_gap;
    // A miss that arrived during the refresh counts: the list just fetched may predate it.
    asked_by_miss = false;
    while (!stop_.load(std::memory_order_relaxed)) {
      const Clock::time_point now = Clock::now();
      if (now >= periodic) break;
      if (miss_pending_ && now >= earliest_miss) {
        asked_by_miss = true;
        break;
      }
      changed_.wait_until(lock, miss_pending_ ? std::min(periodic, earliest_miss) : periodic);
    }
    miss_pending_ = false;
  }
}

void PodCache::RefreshOnce(bool asked_by_miss) {
  Result<std::string> body = fetch_(stop_);
  Result<PodIndex> index =
      body.ok() ? ParsePodList(*body, options_.node) : Result<PodIndex>(body.status());
  const Status status = index.ok() ? Status::Ok() : index.status();
  // One line per change of state (and per different error), not one per refresh.
  if (first_attempt_ || status.ok() != last_status_.ok() ||
      (!status.ok() && status.message() != last_status_.message())) {
    if (status.ok()) {
      spdlog::info("kubernetes: pod list from the kubelet: {} pods, {} containers", index->pods,
                   index->containers.size());
    } else {
      spdlog::warn("kubernetes: cannot refresh the pod list{}: {}",
                   has_list() ? " (keeping the last one)" : "", status.message());
    }
  }
  first_attempt_ = false;
  last_status_ = status;
  std::lock_guard lock(mutex_);
  if (asked_by_miss) ++counters_.miss_refreshes;
  if (!index.ok()) {
    ++counters_.refresh_failures;
    changed_.notify_all();
    return;
  }
  ++counters_.refreshes;
  const size_t hash = std::hash<std::string>()(*body);
  if (!index_ || hash != body_hash_) {
    body_hash_ = hash;
    counters_.pods = index->pods;
    counters_.containers = index->containers.size();
    index_ = std::make_shared<const PodIndex>(std::move(index).value());
    // New answers: IDs that missed may be found now, and may ask again next time.
    misses_asked_.clear();
    generation_.fetch_add(1, std::memory_order_release);
  }
  changed_.notify_all();
}

}  // namespace profkit::kubernetes
