// A scripted SampleSource for tests of the sampling road without BPF: each Poll hands out the
// next batch of records, never waiting. Finite scripts end exhausted; an endless one repeats its
// last batch until Finish(). Tests await its polls instead of sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <unordered_set>
#include <utility>
#include <vector>

#include "profkit/sampling/sample_source.h"

namespace profkit::testing {

class FakeSampleSource final : public sampling::SampleSource {
 public:
  explicit FakeSampleSource(std::vector<std::vector<sampling::Record>> polls, bool endless = false)
      : polls_(std::move(polls)), endless_(endless) {}

  Result<int> Poll(std::chrono::milliseconds, const sampling::RecordHandler& on_record) override {
    std::vector<sampling::Record> batch;
    {
      const std::lock_guard lock(mutex_);
      if (next_ < polls_.size()) {
        batch = polls_[next_];
        if (!endless_ || next_ + 1 < polls_.size()) ++next_;
      }
      ++polls_done_;
    }
    polled_.notify_all();
    for (const sampling::Record& record : batch) {
      if (std::holds_alternative<sampling::SampleRecord>(record)) ++counters_.samples;
      on_record(record);
    }
    return static_cast<int>(batch.size());
  }
  sampling::SamplerCounters counters() const override { return counters_; }
  bool exhausted() const override {
    const std::lock_guard lock(mutex_);
    return finished_ || (!endless_ && next_ >= polls_.size());
  }
  void SetRawRecordTap(sampling::RawRecordTap) override {}
  Status RegisterPythonProcess(uint32_t pid, const profkit_python_process&) override {
    python_pids_.insert(pid);
    return Status::Ok();
  }
  void UnregisterPythonProcess(uint32_t pid) override { python_pids_.erase(pid); }

  // Ends an endless script.
  void Finish() {
    const std::lock_guard lock(mutex_);
    finished_ = true;
  }
  int polls() const {
    const std::lock_guard lock(mutex_);
    return polls_done_;
  }
  // True once Poll has run `count` times in all; false after `timeout`.
  bool AwaitPolls(int count, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return polled_.wait_for(lock, timeout, [&] { return polls_done_ >= count; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable polled_;
  std::vector<std::vector<sampling::Record>> polls_;
  const bool endless_;
  size_t next_ = 0;
  int polls_done_ = 0;
  bool finished_ = false;
  sampling::SamplerCounters counters_;
  std::unordered_set<uint32_t> python_pids_;
};

}  // namespace profkit::testing
