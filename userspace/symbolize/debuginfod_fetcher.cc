#include "debuginfod_fetcher.h"

#include <elfutils/debuginfod.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "profkit/common/log.h"
#include "profkit/common/clock.h"

namespace profkit::symbolize {
namespace {

// Build ids remembered at once (arrived, pending or negative); beyond it new ones are not asked
// for, so a host with endless distinct binaries cannot grow the table without bound.
constexpr size_t kMaxEntries = 16384;

// One download's bounds, reached by libdebuginfod's progress callback.
struct DownloadBounds {
  const std::atomic<bool>* cancel;
  int64_t deadline_ns;
  uint64_t max_bytes;
};

int64_t ToNanos(std::chrono::nanoseconds d) { return static_cast<int64_t>(d.count()); }

}  // namespace

std::unique_ptr<DebuginfodFetcher> DebuginfodFetcher::Start(const std::string& urls,
                                                            const DebugInfoOptions& options) {
  if (urls.empty()) return nullptr;
  const auto timeout_s = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options.debuginfod_timeout).count());
  setenv(DEBUGINFOD_URLS_ENV_VAR, urls.c_str(), 1);
  setenv(DEBUGINFOD_CACHE_PATH_ENV_VAR, options.cache_dir.c_str(), 1);
  // No progress for the timeout, or the whole download longer than it, ends the attempt.
  setenv(DEBUGINFOD_TIMEOUT_ENV_VAR, std::to_string(timeout_s).c_str(), 1);
  setenv(DEBUGINFOD_MAXTIME_ENV_VAR, std::to_string(timeout_s).c_str(), 1);
  setenv(DEBUGINFOD_MAXSIZE_ENV_VAR, std::to_string(options.max_download_bytes).c_str(), 1);
  // A failed attempt is retried by the negative cache's lifetime, not at once.
  setenv(DEBUGINFOD_RETRY_LIMIT_ENV_VAR, "0", 1);

  std::error_code error;
  std::filesystem::create_directories(options.cache_dir, error);
  if (error) {
    spdlog::warn("debuginfod: cannot create cache_dir {}: {}; downloads will fail",
                 options.cache_dir, error.message());
  }
  // libdebuginfod keeps a negative entry of its own (an empty file) after a 404, for the seconds
  // in this file; it is made to agree with ours.
  const auto miss_s = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(options.miss_lifetime).count() - 1);
  std::ofstream(options.cache_dir + "/cache_miss_s") << miss_s << "\n";
  return std::unique_ptr<DebuginfodFetcher>(new DebuginfodFetcher(urls, options));
}

DebuginfodFetcher::DebuginfodFetcher(std::string urls, const DebugInfoOptions& options)
    : urls_(std::move(urls)), options_(options), null_fd_(open("/dev/null", O_WRONLY | O_CLOEXEC)) {
  const size_t workers = std::max<size_t>(1, options_.debuginfod_workers);
  for (size_t i = 0; i < workers; ++i) workers_.emplace_back([this] { Run(); });
}

DebuginfodFetcher::~DebuginfodFetcher() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cancel_.store(true);
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

std::optional<std::string> DebuginfodFetcher::Lookup(const std::string& build_id) {
  const std::lock_guard lock(mutex_);
  auto it = entries_.find(build_id);
  if (it != entries_.end()) {
    if (it->second.state == State::kArrived) return it->second.path;
    return std::nullopt;
  }
  if (entries_.size() >= kMaxEntries || stopping_) return std::nullopt;
  entries_.emplace(build_id, Entry{});
  queue_.push_back(build_id);
  wake_.notify_one();
  return std::nullopt;
}

DebuginfodCounters DebuginfodFetcher::counters() const {
  const std::lock_guard lock(mutex_);
  DebuginfodCounters c = counters_;
  c.queued = queue_.size();
  c.cached_bytes = cached_bytes_;
  return c;
}

int64_t DebuginfodFetcher::RequeueExpired(int64_t now_ns) {
  int64_t next = 0;
  for (auto& [build_id, entry] : entries_) {
    if (entry.state != State::kMissing && entry.state != State::kFailed) continue;
    if (entry.retry_at_ns <= now_ns) {
      entry.state = State::kQueued;
      queue_.push_back(build_id);
    } else if (next == 0 || entry.retry_at_ns < next) {
      next = entry.retry_at_ns;
    }
  }
  return next;
}

void DebuginfodFetcher::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const int64_t next_retry = RequeueExpired(MonotonicNanos());
    if (queue_.empty()) {
      if (next_retry == 0) {
        wake_.wait(lock);
      } else {
        wake_.wait_for(lock, std::chrono::nanoseconds(next_retry - MonotonicNanos()));
      }
      continue;
    }
    const std::string build_id = std::move(queue_.front());
    queue_.pop_front();
    entries_.at(build_id).state = State::kFetching;
    lock.unlock();
    Fetch(build_id);
    lock.lock();
  }
}

int DebuginfodFetcher::Progress(debuginfod_client* client, long downloaded, long total) {
  const auto* bounds = static_cast<const DownloadBounds*>(debuginfod_get_user_data(client));
  if (bounds == nullptr) return 0;
  if (bounds->cancel->load(std::memory_order_relaxed)) return 1;
  if (MonotonicNanos() > bounds->deadline_ns) return 1;
  if (downloaded > 0 && static_cast<uint64_t>(downloaded) > bounds->max_bytes) return 1;
  if (total > 0 && static_cast<uint64_t>(total) > bounds->max_bytes) return 1;
  return 0;
}

void DebuginfodFetcher::Fetch(const std::string& build_id) {
  debuginfod_client* client = debuginfod_begin();
  int rc = -ENOMEM;
  char* path = nullptr;
  if (client != nullptr) {
    DownloadBounds bounds{.cancel = &cancel_,
                          .deadline_ns = MonotonicNanos() + ToNanos(options_.debuginfod_timeout),
                          .max_bytes = options_.max_download_bytes};
    debuginfod_set_user_data(client, &bounds);
    // libdebuginfod 0.188 prints some diagnostics (the maxtime abort) to its verbose descriptor
    // even when none is set, and glibc's dprintf(-1, ...) leaks its stream buffer: /dev/null
    // takes them instead.
    debuginfod_set_verbose_fd(client, null_fd_.get());
    debuginfod_set_progressfn(client, &DebuginfodFetcher::Progress);
    rc = debuginfod_find_debuginfo(client, reinterpret_cast<const unsigned char*>(build_id.c_str()),
                                   0, &path);
    debuginfod_end(client);
  }
  uint64_t bytes = 0;
  if (rc >= 0) {
    struct stat st;
    if (fstat(rc, &st) == 0) bytes = static_cast<uint64_t>(st.st_size);
    close(rc);
  }
  const bool cancelled = cancel_.load();
  if (cancelled && rc < 0 && path == nullptr) {
    // An aborted query leaves libdebuginfod's 404 marker behind; it must not outlive the agent.
    std::error_code ignored;
    const std::string marker = options_.cache_dir + "/" + build_id + "/debuginfo";
    if (std::filesystem::file_size(marker, ignored) == 0) std::filesystem::remove(marker, ignored);
  }

  const std::lock_guard lock(mutex_);
  Entry& entry = entries_.at(build_id);
  const int64_t now = MonotonicNanos();
  if (rc >= 0 && path != nullptr) {
    entry.state = State::kArrived;
    entry.path = path;
    entry.bytes = bytes;
    entry.arrived_ns = now;
    cached_bytes_ += bytes;
    ++counters_.hits;
    counters_.bytes += bytes;
    NoteServerState(true, 0);
    EvictOverLimit(build_id);
    generation_.fetch_add(1, std::memory_order_release);
  } else if (rc == -ENOENT && !cancelled) {
    // 404 from every server (or libdebuginfod's own negative entry): the servers are fine.
    entry.state = State::kMissing;
    entry.retry_at_ns = now + ToNanos(options_.miss_lifetime);
    ++counters_.misses;
    NoteServerState(true, 0);
  } else {
    entry.state = State::kFailed;
    entry.retry_at_ns = now + ToNanos(options_.error_lifetime);
    ++counters_.errors;
    // A file too large or too slow says nothing about the server; unreachable ones do.
    if (!cancelled && rc != -EFBIG && rc != -ENOENT) NoteServerState(false, -rc);
  }
  free(path);
}

void DebuginfodFetcher::NoteServerState(bool reachable, int error) {
  if (server_reachable_ == reachable) return;
  const bool first = !server_reachable_.has_value();
  server_reachable_ = reachable;
  if (reachable) {
    if (!first) spdlog::info("debuginfod {}: answering again", urls_);
  } else {
    spdlog::warn("debuginfod {}: unreachable ({}); frames of modules without local debug info stay "
                 "module+offset until it answers (retried every {:.1f} s)",
                 urls_, strerror(error),
                 std::chrono::duration<double>(options_.error_lifetime).count());
  }
}

void DebuginfodFetcher::EvictOverLimit(const std::string& keep) {
  while (cached_bytes_ > options_.cache_max_bytes) {
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.state != State::kArrived || it->first == keep) continue;
      if (oldest == entries_.end() || it->second.arrived_ns < oldest->second.arrived_ns)
        oldest = it;
    }
    if (oldest == entries_.end()) return;
    // A symbolizer that opened the file keeps reading it; it is only gone for the next opener,
    // which asks the server again.
    std::error_code ignored;
    std::filesystem::remove(oldest->second.path, ignored);
    cached_bytes_ -= oldest->second.bytes;
    ++counters_.evictions;
    entries_.erase(oldest);
  }
}

}  // namespace profkit::symbolize
