// Downloads profiles from a Go program's /debug/pprof/ endpoints over libcurl.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "profkit/common/status.h"
#include "profkit/config/go_target.h"

namespace profkit::pull {

// The largest profile body accepted: real Go heap profiles of big services are a few MiB gzipped.
inline constexpr size_t kMaxProfileBodyBytes = 32 << 20;
// Timeout of a non-CPU pull, and the slack added to a CPU profile's recording time (DataKit: 15 s).
inline constexpr std::chrono::seconds kFetchTimeout{15};
inline constexpr std::chrono::seconds kConnectTimeout{5};

// How a fetch failed, so that the target's state changes only when the kind of failure does.
enum class FetchErrorKind { kNone, kUnreachable, kTimeout, kHttpStatus, kTooLarge, kCancelled };

struct FetchError {
  FetchErrorKind kind = FetchErrorKind::kNone;
  std::string message;  // names the URL without its query
};

struct FetchedProfile {
  std::string body;  // as served (gzip pprof for Go)
  int64_t start_unix_nanos = 0, end_unix_nanos = 0;
};

// One libcurl handle per target (keep-alive to the target). Not thread-safe.
class PprofFetcher {
 public:
  // `cancel` (may be null) aborts a transfer within about a second once true
  // (libcurl's progress callback period).
  PprofFetcher(config::GoTarget target, const std::atomic<bool>* cancel);
  ~PprofFetcher();
  PprofFetcher(const PprofFetcher&) = delete;
  PprofFetcher& operator=(const PprofFetcher&) = delete;

  // GET <base>/debug/pprof/<type>[?seconds=N for cpu]. Anything but a 200 with a body of at
  // most kMaxProfileBodyBytes is an error; the body is not parsed here.
  bool Fetch(config::GoProfileType type, std::chrono::seconds cpu_seconds, FetchedProfile* out,
             FetchError* error);
  // GET <base><path_and_query>: for other endpoints of the target (tests, health checks).
  bool Get(std::string_view path_and_query, std::chrono::seconds timeout, std::string* body,
           FetchError* error);

 private:
  config::GoTarget target_;
  std::string base_url_;
  const std::atomic<bool>* cancel_;
  void* easy_;  // CURL*, opaque so that users don't include curl.h
};

}  // namespace profkit::pull
