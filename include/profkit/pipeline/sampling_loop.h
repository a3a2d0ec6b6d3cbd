// The one poll/flush loop of `run` and `record`: a reader thread (the caller of Run) polls the
// SampleSource and hands every record to the SamplePipeline; at the end of each interval it ends
// the pipeline's interval (the aggregation is drained, a double buffer) and hands the batch to a
// flush worker thread, which symbolizes, encodes and delivers it (the FlushHandler) while the
// reader keeps reading. The reader never waits for a flush: an interval that ends while the
// previous flush still runs is merged into the next one (counted in merged_intervals), so at
// most one batch is being flushed while one aggregates. Processes and modules that only a
// flushed interval needed are released by the reader once that flush has completed.
//
// Shutdown (Run returning): stop reading, drain what the source still holds, wait for a running
// flush, end the last interval, flush it, join the worker.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "profkit/common/status.h"
#include "profkit/pipeline/sample_pipeline.h"
#include "profkit/sampling/sample_source.h"

namespace profkit::pipeline {

struct SamplingLoopOptions {
  int sample_rate_hz = 99;  // for IntervalTiming::sample_period_ns
  // A stop request or a due flush waits at most this long.
  std::chrono::milliseconds poll_timeout{100};
  // 0: no periodic flush; the only flush is the final one (`record`).
  std::chrono::nanoseconds flush_interval{0};
};

struct SamplingLoopCounters {
  uint64_t records = 0;           // handed to the pipeline
  uint64_t flushes = 0;           // batches the worker completed
  uint64_t merged_intervals = 0;  // interval ends deferred because a flush was still running
  uint64_t last_flush_ms = 0;     // how long the last flush took on the worker
};

// Runs on the flush worker, once per ended interval, with the batch to build and deliver.
using FlushHandler = std::function<void(const FlushBatch& batch)>;

class SamplingLoop {
 public:
  // `source` and `pipeline` must outlive the loop. Starts the flush worker.
  SamplingLoop(sampling::SampleSource& source, SamplePipeline& pipeline,
               SamplingLoopOptions options, FlushHandler flush);
  // Joins the worker (after the flush it is running, if any).
  ~SamplingLoop();
  SamplingLoop(const SamplingLoop&) = delete;
  SamplingLoop& operator=(const SamplingLoop&) = delete;

  // Reads until `should_stop` returns true or the source is exhausted, then shuts down as
  // described above. `tick`, when set, runs on the reader after every poll (counter logs). A
  // source error ends the loop after the running flush, without a final flush.
  Status Run(const std::function<bool()>& should_stop, const std::function<void()>& tick = {});

  // Safe from any thread.
  SamplingLoopCounters counters() const;

 private:
  void Handle(const sampling::Record& record);
  // Ends the interval and queues its batch unless a flush is still running; false then.
  bool TryEndInterval(bool wait_for_worker);
  // Releases what completed flushes no longer need (reader).
  void CollectCompleted();
  void WaitForIdleWorker();
  void WorkerMain();

  sampling::SampleSource& source_;
  SamplePipeline& pipeline_;
  const SamplingLoopOptions options_;
  const FlushHandler flush_;
  const sampling::RecordHandler handle_;
  int64_t interval_start_unix_ns_ = 0;
  uint64_t collected_interval_ = 0;  // reader-owned
  std::atomic<uint64_t> records_{0};

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable worker_idle_;
  std::optional<FlushBatch> pending_;  // queued for the worker
  bool flushing_ = false;              // the worker is running a batch
  bool stopping_ = false;
  uint64_t completed_interval_ = 0;
  uint64_t flushes_ = 0;
  uint64_t merged_intervals_ = 0;
  uint64_t last_flush_ms_ = 0;
  std::thread worker_;  // last: started once everything above is initialised
};

}  // namespace profkit::pipeline
