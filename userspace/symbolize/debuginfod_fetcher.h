// Background downloads of debug files from debuginfod servers through elfutils' libdebuginfod.
//
// Lookup never waits on the network: it answers from memory (the file's path once downloaded, or
// "not yet") and queues a download for the worker threads, which run at most `workers` at a time,
// each bounded in time and size. A build id the servers do not have (404), or whose download
// failed, is not asked again before its negative entry expires; expired entries are queued again
// by the workers themselves, so a file that appears on a server, or a server that comes back, is
// picked up without anyone asking twice. Each arrival bumps generation(), which tells the
// symbolizer to look again. Downloaded files live in the cache directory, evicted oldest first
// beyond its size limit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "profkit/common/unique_fd.h"
#include "profkit/symbolize/native_symbolizer.h"

struct debuginfod_client;  // <elfutils/debuginfod.h>

namespace profkit::symbolize {

class DebuginfodFetcher {
 public:
  // Null when `urls` is empty (debuginfod disabled). Sets libdebuginfod's environment variables
  // (DEBUGINFOD_URLS, _CACHE_PATH, _TIMEOUT, _MAXTIME, _MAXSIZE, _RETRY_LIMIT), which it reads on
  // every query and offers no other way to set: the agent does this before its sampling threads
  // run.
  static std::unique_ptr<DebuginfodFetcher> Start(const std::string& urls,
                                                  const DebugInfoOptions& options);
  ~DebuginfodFetcher();  // cancels running downloads and joins the workers
  DebuginfodFetcher(const DebuginfodFetcher&) = delete;
  DebuginfodFetcher& operator=(const DebuginfodFetcher&) = delete;

  // The downloaded debug file of `build_id` (lowercase hex), or nullopt while it is queued,
  // downloading, or negatively cached; queues it when it was never asked for.
  std::optional<std::string> Lookup(const std::string& build_id);

  // Bumped on every arrival (never on a failure).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  DebuginfodCounters counters() const;

 private:
  enum class State { kQueued, kFetching, kArrived, kMissing, kFailed };
  struct Entry {
    State state = State::kQueued;
    std::string path;         // kArrived
    int64_t retry_at_ns = 0;  // kMissing / kFailed: queued again from then on
    uint64_t bytes = 0;       // kArrived: counted against cache_max_mb
    int64_t arrived_ns = 0;   // kArrived: eviction order
  };

  DebuginfodFetcher(std::string urls, const DebugInfoOptions& options);
  void Run();
  // Downloads one build id (without the lock); records the outcome.
  void Fetch(const std::string& build_id);
  // Queues expired negative entries; returns the nearest future expiry (0 when none).
  int64_t RequeueExpired(int64_t now_ns);
  void NoteServerState(bool reachable, int error);
  // Removes the oldest downloads beyond cache_max_bytes, never `keep` (the one just arrived).
  void EvictOverLimit(const std::string& keep);
  static int Progress(::debuginfod_client* client, long downloaded, long total);

  const std::string urls_;
  const DebugInfoOptions options_;
  const UniqueFd null_fd_;    // libdebuginfod's verbose output (see Fetch)
  mutable std::mutex mutex_;  // guards everything below but the atomics
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<std::string> queue_;
  std::unordered_map<std::string, Entry> entries_;
  uint64_t cached_bytes_ = 0;
  std::optional<bool> server_reachable_;  // unknown until the first answer
  DebuginfodCounters counters_{};
  std::atomic<bool> cancel_{false};
  std::atomic<uint64_t> generation_{0};
  std::vector<std::thread> workers_;
};

}  // namespace profkit::symbolize
