// [[inputs.profile.go]] inside the agent: one pull::GoPuller per target, run only while this agent
// is the Dataway election's leader when the election applies (election = true and a Dataway is
// configured); otherwise always.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/config/config.h"
#include "profkit/forward/election.h"
#include "profkit/forward/upload.h"
#include "profkit/pull/go_puller.h"

namespace profkit::agent {

class GoPullRunner {
 public:
  // Called on the pullers' threads, so it must be thread-safe; it delays only its target.
  using Submit = std::function<void(forward::ProfileUpload upload)>;

  // Starts a puller per config.profile.go_targets (each upload gets `hostname` as host) and, when
  // elected, the election (pullers wait paused until it makes this agent the leader).
  static Result<std::unique_ptr<GoPullRunner>> Start(const config::Config& config,
                                                     const std::string& hostname, Submit submit);
  ~GoPullRunner();  // Stop()
  GoPullRunner(const GoPullRunner&) = delete;
  GoPullRunner& operator=(const GoPullRunner&) = delete;

  // Ends the election, then cancels every transfer in flight at once and joins: about a second
  // however many targets there are.
  void Stop();
  void LogCounters() const;
  struct Totals {
    uint64_t rounds_ok = 0, rounds_failed = 0, uploads = 0;
  };
  // Over every target; thread-safe (the pullers' counters are atomics).
  Totals totals() const;

 private:
  GoPullRunner() = default;
  void OnLeadershipChange(bool leader);

  // True while an election applies and this agent is not its leader.
  std::atomic<bool> paused_{false};
  std::vector<std::unique_ptr<pull::GoPuller>> pullers_;
  // Declared last: destroyed first, as its callback wakes the pullers.
  std::unique_ptr<forward::DatawayElection> election_;
};

}  // namespace profkit::agent
