// Runs one Go target on its own thread: a round every `interval`, results handed to a sink. A
// target that is down, slow or answers garbage only delays itself; its state changes are logged
// once each.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "profkit/forward/upload.h"
#include "profkit/pull/go_round.h"
#include "profkit/config/go_target.h"
#include "profkit/pull/pprof_fetch.h"

namespace profkit::pull {

enum class TargetState { kUnknown, kUp, kUnreachable, kTimeout, kHttpError, kGarbage };
std::string_view TargetStateName(TargetState state);
TargetState StateFromFetchError(FetchErrorKind kind);

// Remembers a target's state so that each change is reported once, not every failing round.
class TargetStateTracker {
 public:
  // True when `state` differs from the previous one (the caller logs then).
  bool Update(TargetState state);
  TargetState state() const { return state_; }

 private:
  TargetState state_ = TargetState::kUnknown;
};

struct GoPullerCounters {
  std::atomic<int64_t> rounds_ok{0}, rounds_failed{0}, uploads{0}, delta_clamped_samples{0};
};

class GoPuller {
 public:
  // Called on the puller's thread for every round that produced attachments.
  using Sink =
      std::function<void(forward::ProfileUpload upload, std::optional<int64_t> num_goroutine)>;

  // `target` must have passed config::ValidateGoTarget. `paused` (may be null; election) skips
  // rounds while true and is re-checked at every tick; a paused tick forgets the previous
  // cumulative profiles, as the period until the next round belongs to whichever agent was leader
  // then.
  GoPuller(config::GoTarget target, Sink sink, const std::atomic<bool>* paused);
  ~GoPuller();  // Stop()
  GoPuller(const GoPuller&) = delete;
  GoPuller& operator=(const GoPuller&) = delete;

  void Start();
  // Runs a round now instead of at the next tick (e.g. when the election resumes pulling, as
  // DataKit does); the grid of later ticks is kept.
  void Wake();
  // Cancels a transfer in flight without waiting: RequestStop() every puller, then Stop() each,
  // and shutting down many pullers takes as long as the slowest one.
  void RequestStop();
  // RequestStop() and joins the thread; returns within about a second (libcurl checks the
  // cancel flag from its progress callback).
  void Stop();

  TargetState state() const { return state_.load(); }
  const GoPullerCounters& counters() const { return counters_; }

 private:
  void Run();
  void RunRound(PprofFetcher& fetcher, DeltaState& deltas, TargetStateTracker& tracker);

  config::GoTarget target_;
  Sink sink_;
  const std::atomic<bool>* paused_;
  std::atomic<bool> stop_{false};
  bool wake_requested_ = false;  // guarded by mutex_
  std::atomic<TargetState> state_{TargetState::kUnknown};
  GoPullerCounters counters_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace profkit::pull
