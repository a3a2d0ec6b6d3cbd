#include "profkit/pull/go_puller.h"
#include "profkit/common/quoted.h"

#include <chrono>

#include "profkit/common/http_client.h"
#include "profkit/common/log.h"

namespace profkit::pull {

using config::GoTarget;

std::string_view TargetStateName(TargetState state) {
  switch (state) {
    case TargetState::kUnknown:
      return "unknown";
    case TargetState::kUp:
      return "up";
    case TargetState::kUnreachable:
      return "unreachable";
    case TargetState::kTimeout:
      return "timing out";
    case TargetState::kHttpError:
      return "answering with an HTTP error";
    case TargetState::kGarbage:
      return "answering with invalid profiles";
  }
  return "unknown";
}

TargetState StateFromFetchError(FetchErrorKind kind) {
  switch (kind) {
    case FetchErrorKind::kNone:
      return TargetState::kUp;
    case FetchErrorKind::kUnreachable:
    case FetchErrorKind::kCancelled:
      return TargetState::kUnreachable;
    case FetchErrorKind::kTimeout:
      return TargetState::kTimeout;
    case FetchErrorKind::kHttpStatus:
      return TargetState::kHttpError;
    case FetchErrorKind::kTooLarge:
      return TargetState::kGarbage;
  }
  return TargetState::kUnknown;
}

bool TargetStateTracker::Update(TargetState state) {
  if (state == state_) return false;
  state_ = state;
  return true;
}

GoPuller::GoPuller(GoTarget target, Sink sink, const std::atomic<bool>* paused)
    : target_(std::move(target)), sink_(std::move(sink)), paused_(paused) {}

GoPuller::~GoPuller() { Stop(); }

void GoPuller::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void GoPuller::Wake() {
  {
    std::lock_guard lock(mutex_);
    wake_requested_ = true;
  }
  wake_.notify_all();
}

void GoPuller::RequestStop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
}

void GoPuller::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

void GoPuller::Run() {
  PprofFetcher fetcher(target_, &stop_);
  DeltaState deltas;
  TargetStateTracker tracker;
  // Rounds start on a fixed grid; a round that overruns skips the ticks it missed (like Go's
  // time.Ticker in DataKit) instead of running back to back.
  auto next = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    if (paused_ != nullptr && paused_->load()) {
      deltas = DeltaState();
    } else {
      RunRound(fetcher, deltas, tracker);
    }
    const auto now = std::chrono::steady_clock::now();
    while (next <= now) next += target_.interval;
    std::unique_lock lock(mutex_);
    wake_.wait_until(lock, next, [this] { return stop_.load() || wake_requested_; });
    wake_requested_ = false;
  }
}

void GoPuller::RunRound(PprofFetcher& fetcher, DeltaState& deltas, TargetStateTracker& tracker) {
  const std::string name =
      fmt::format("Go target {} ({})", Quoted(target_.service), UrlWithoutSecrets(target_.url));
  RawRound round;
  FetchError error;
  TargetState state = TargetState::kUp;
  std::string detail;
  std::optional<RoundResult> result;
  if (!FetchRound(target_, fetcher, CpuProfileDuration(target_.interval), &round, &error)) {
    if (error.kind == FetchErrorKind::kCancelled) return;  // stopping
    state = StateFromFetchError(error.kind);
    detail = error.message;
  } else if (auto processed = deltas.Process(target_, round); !processed.ok()) {
    state = TargetState::kGarbage;
    detail = processed.status().message();
  } else {
    result = std::move(*processed);
  }
  state_ = state;
  if (tracker.Update(state)) {
    if (state == TargetState::kUp) {
      spdlog::info("{}: up", name);
    } else {
      spdlog::warn("{}: {} ({}); retrying every {}s", name, TargetStateName(state), detail,
                   target_.interval.count());
    }
  }
  if (!result) {
    ++counters_.rounds_failed;
    return;
  }
  ++counters_.rounds_ok;
  counters_.delta_clamped_samples += result->delta_stats.clamped_samples;
  if (result->upload.attachments.empty()) return;
  ++counters_.uploads;
  sink_(std::move(result->upload), result->num_goroutine);
}

}  // namespace profkit::pull
