#include "profkit/agent/go_pull_runner.h"
#include "profkit/common/quoted.h"

#include <utility>

#include "profkit/common/http_client.h"
#include "profkit/common/log.h"

namespace profkit::agent {

Result<std::unique_ptr<GoPullRunner>> GoPullRunner::Start(const config::Config& config,
                                                          const std::string& hostname,
                                                          Submit submit) {
  std::unique_ptr<GoPullRunner> runner(new GoPullRunner());
  const bool elected = config.profile.election && !config.dataway.url.empty();
  runner->paused_ = elected;
  for (const config::GoTarget& target : config.profile.go_targets) {
    auto sink = [submit, hostname, service = target.service](forward::ProfileUpload upload,
                                                             std::optional<int64_t> num_goroutine) {
      upload.host = hostname;
      // profiling_metrics reads the same count from goroutines.pprof (sample type "goroutine").
      spdlog::debug("Go target {}: {} attachments, {} goroutines", Quoted(service),
                    upload.attachments.size(), num_goroutine.value_or(-1));
      submit(std::move(upload));
    };
    runner->pullers_.push_back(
        std::make_unique<pull::GoPuller>(target, std::move(sink), &runner->paused_));
    spdlog::info("pulling Go profiles from {} every {}s (service {}){}",
                 UrlWithoutSecrets(target.url), target.interval.count(), Quoted(target.service),
                 elected ? " while this agent is the elected leader" : "");
  }
  if (elected) {
    GoPullRunner* raw = runner.get();
    PROFKIT_ASSIGN_OR_RETURN(
        runner->election_,
        forward::DatawayElection::Start(
            forward::ElectionOptions{.dataway_url = config.dataway.url,
                                     .election_namespace = config.agent.election_namespace,
                                     .id = hostname},
            [raw](bool leader) { raw->OnLeadershipChange(leader); }));
  }
  for (const auto& puller : runner->pullers_) puller->Start();
  return runner;
}

GoPullRunner::~GoPullRunner() { Stop(); }

void GoPullRunner::Stop() {
  election_.reset();
  for (const auto& puller : pullers_) puller->RequestStop();
  for (const auto& puller : pullers_) puller->Stop();
}

void GoPullRunner::OnLeadershipChange(bool leader) {
  paused_ = !leader;
  // DataKit pulls at once on resume rather than at the next tick.
  if (leader) {
    for (const auto& puller : pullers_) puller->Wake();
  }
}

GoPullRunner::Totals GoPullRunner::totals() const {
  Totals totals;
  for (const auto& puller : pullers_) {
    const pull::GoPullerCounters& c = puller->counters();
    totals.rounds_ok += c.rounds_ok;
    totals.rounds_failed += c.rounds_failed;
    totals.uploads += c.uploads;
  }
  return totals;
}

void GoPullRunner::LogCounters() const {
  int64_t rounds_ok = 0, rounds_failed = 0, uploads = 0, clamped = 0;
  for (const auto& puller : pullers_) {
    const pull::GoPullerCounters& c = puller->counters();
    rounds_ok += c.rounds_ok;
    rounds_failed += c.rounds_failed;
    uploads += c.uploads;
    clamped += c.delta_clamped_samples;
  }
  spdlog::info("go pull counters: targets={} rounds_ok={} rounds_failed={} uploads={} "
               "delta_clamped_samples={} paused={}",
               pullers_.size(), rounds_ok, rounds_failed, uploads, clamped, paused_.load());
  if (election_) {
    const forward::DatawayElection::Counters& c = election_->counters();
    spdlog::info("election counters: leader={} requests={} failures={} changes={}",
                 election_->leader(), c.requests.load(), c.failures.load(), c.changes.load());
  }
}

}  // namespace profkit::agent
