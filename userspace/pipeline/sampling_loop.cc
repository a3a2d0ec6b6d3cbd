#include "profkit/pipeline/sampling_loop.h"

#include <algorithm>

#include "profkit/common/clock.h"
#include "profkit/common/log.h"

namespace profkit::pipeline {

SamplingLoop::SamplingLoop(sampling::SampleSource& source, SamplePipeline& pipeline,
                           SamplingLoopOptions options, FlushHandler flush)
    : source_(source),
      pipeline_(pipeline),
      options_(options),
      flush_(std::move(flush)),
      handle_([this](const sampling::Record& record) { Handle(record); }),
      interval_start_unix_ns_(WallTimeNanos()),
      worker_([this] { WorkerMain(); }) {}

SamplingLoop::~SamplingLoop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  worker_.join();
}

void SamplingLoop::Handle(const sampling::Record& record) {
  pipeline_.Handle(record);
  records_.fetch_add(1, std::memory_order_relaxed);
}

Status SamplingLoop::Run(const std::function<bool()>& should_stop,
                         const std::function<void()>& tick) {
  const int64_t interval_ns = options_.flush_interval.count();
  int64_t next_flush_mono = MonotonicNanos() + interval_ns;
  bool merge_counted = false;
  while (!should_stop() && !source_.exhausted()) {
    Result<int> polled = source_.Poll(options_.poll_timeout, handle_);
    if (!polled.ok()) {
      WaitForIdleWorker();
      return polled.status().WithContext("reading samples");
    }
    CollectCompleted();
    const int64_t now = MonotonicNanos();
    if (interval_ns > 0 && now >= next_flush_mono) {
      if (TryEndInterval(/*wait_for_worker=*/false)) {
        // Catch up without a burst of empty flushes after a stall (e.g. a suspended VM).
        next_flush_mono = std::max(next_flush_mono + interval_ns, now + interval_ns / 2);
        merge_counted = false;
      } else if (!merge_counted) {
        // Retried at every poll until the worker is free; the interval grows meanwhile.
        const std::lock_guard lock(mutex_);
        ++merged_intervals_;
        merge_counted = true;
      }
    }
    if (tick) tick();
  }
  // Samples taken just before the end may still sit in the source.
  Result<int> drained = source_.Poll(std::chrono::milliseconds(0), handle_);
  if (!drained.ok()) spdlog::warn("draining samples: {}", drained.status().message());
  TryEndInterval(/*wait_for_worker=*/true);
  WaitForIdleWorker();
  CollectCompleted();
  return Status::Ok();
}

bool SamplingLoop::TryEndInterval(bool wait_for_worker) {
  {
    std::unique_lock lock(mutex_);
    if (wait_for_worker) {
      worker_idle_.wait(lock, [this] { return !flushing_ && !pending_; });
    } else if (flushing_ || pending_) {
      return false;
    }
  }
  // Only the reader queues batches, so the worker stays idle until the one below: draining the
  // aggregation needs no lock.
  const int64_t end_unix_ns = WallTimeNanos();
  FlushBatch batch = pipeline_.EndInterval(
      IntervalTiming{.start_unix_ns = interval_start_unix_ns_,
                     .end_unix_ns = end_unix_ns,
                     .sample_period_ns = 1'000'000'000 / std::max(options_.sample_rate_hz, 1)});
  interval_start_unix_ns_ = end_unix_ns;
  {
    const std::lock_guard lock(mutex_);
    pending_ = std::move(batch);
  }
  work_ready_.notify_one();
  return true;
}

void SamplingLoop::CollectCompleted() {
  uint64_t completed = 0;
  {
    const std::lock_guard lock(mutex_);
    completed = completed_interval_;
  }
  if (completed <= collected_interval_) return;
  pipeline_.CollectFlushed(completed);
  collected_interval_ = completed;
}

void SamplingLoop::WaitForIdleWorker() {
  std::unique_lock lock(mutex_);
  worker_idle_.wait(lock, [this] { return !flushing_ && !pending_; });
}

void SamplingLoop::WorkerMain() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [this] { return pending_.has_value() || stopping_; });
    if (!pending_) return;
    const FlushBatch batch = std::move(*pending_);
    pending_.reset();
    flushing_ = true;
    lock.unlock();
    const int64_t start_ns = MonotonicNanos();
    const uint64_t records_before = records_.load(std::memory_order_relaxed);
    flush_(batch);
    const auto elapsed_ms = static_cast<uint64_t>((MonotonicNanos() - start_ns) / 1'000'000);
    spdlog::debug("flushed interval {} ({} services) in {} ms; {} records read meanwhile",
                  batch.interval, batch.stacks.size(), elapsed_ms,
                  records_.load(std::memory_order_relaxed) - records_before);
    lock.lock();
    flushing_ = false;
    completed_interval_ = batch.interval;
    ++flushes_;
    last_flush_ms_ = elapsed_ms;
    worker_idle_.notify_all();
  }
}

SamplingLoopCounters SamplingLoop::counters() const {
  const std::lock_guard lock(mutex_);
  return SamplingLoopCounters{.records = records_.load(std::memory_order_relaxed),
                              .flushes = flushes_,
                              .merged_intervals = merged_intervals_,
                              .last_flush_ms = last_flush_ms_};
}

}  // namespace profkit::pipeline
