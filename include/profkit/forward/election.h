// Dataway leader election, as DataKit's: agents sharing a namespace ask Dataway which of them is
// the leader; only the leader runs pull-type inputs (docs/datakit-protocol.md §4). A candidate
// POSTs /v1/election, the leader POSTs /v1/election/heartbeat, each time waiting the `interval` the
// reply gives.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "profkit/common/http_client.h"
#include "profkit/common/status.h"
#include "profkit/forward/dataway_url.h"

namespace profkit::forward {

inline constexpr std::string_view kElectionPath = "/v1/election";
inline constexpr std::string_view kElectionHeartbeatPath = "/v1/election/heartbeat";

// DataKit's electionIntervalDefault: the wait after an error or before the first reply.
inline constexpr std::chrono::seconds kDefaultElectionInterval{4};
// Server intervals are clamped to [min, max]: DataKit panics on 0 (docs/datakit-protocol.md §5 row
// 20), and a huge value would leave a lost leadership unnoticed for that long.
inline constexpr std::chrono::seconds kMinElectionInterval{1};
inline constexpr std::chrono::seconds kMaxElectionInterval{300};
// A leader whose heartbeats fail this many times in a row steps down: Dataway has likely handed
// the leadership to another agent meanwhile (DataKit stays leader, which can pull twice).
inline constexpr int kMaxFailedHeartbeats = 3;

struct ElectionReply {
  bool leader = false;  // content.status "success"; "defeat" is false
  std::chrono::seconds interval = kDefaultElectionInterval;  // clamped
  std::string incumbency_id;  // the current leader, when Dataway says
  std::string error_msg;
};

// {"content":{"status":"success"|"defeat","interval":N,"incumbency_id":..,"error_msg":..}};
// anything else (other status, missing content) is an error.
Result<ElectionReply> ParseElectionReply(std::string_view body);

struct ElectionOptions {
  std::string dataway_url;
  std::string election_namespace = "default";
  std::string id;  // the agent's host name, as DataKit
  std::chrono::milliseconds request_timeout{10000};
  // The wait after a failed request (DataKit: electionIntervalDefault).
  std::chrono::milliseconds retry_interval = kDefaultElectionInterval;
};

// Runs the election on its own thread. Starts as a candidate (not leader); `on_change(leader)`
// is called on that thread at each change of state, never concurrently.
class DatawayElection {
 public:
  using OnChange = std::function<void(bool leader)>;

  // Checks the URL (token required) and starts the thread.
  static Result<std::unique_ptr<DatawayElection>> Start(ElectionOptions options,
                                                        OnChange on_change);
  // Cancels a request in flight and joins the thread.
  ~DatawayElection();
  DatawayElection(const DatawayElection&) = delete;
  DatawayElection& operator=(const DatawayElection&) = delete;

  bool leader() const { return leader_.load(); }

  struct Counters {
    std::atomic<int64_t> requests{0}, failures{0}, changes{0};
  };
  const Counters& counters() const { return counters_; }

 private:
  DatawayElection(ElectionOptions options, OnChange on_change, std::string election_url,
                  std::string heartbeat_url);
  void Run();
  // One request; the interval to wait before the next.
  std::chrono::milliseconds Step(HttpClient& client);
  void SetLeader(bool leader, std::string_view why);

  const ElectionOptions options_;
  const OnChange on_change_;
  const std::string election_url_, heartbeat_url_;
  std::atomic<bool> leader_{false};
  int failed_heartbeats_ = 0;      // election thread only
  bool last_call_failed_ = false;  // election thread only: log failures once per streak
  Counters counters_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace profkit::forward
