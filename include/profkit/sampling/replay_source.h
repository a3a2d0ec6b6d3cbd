// A SampleSource that replays a record file (record_file.h) deterministically, for tests and for
// examining a capture from another host without root.
//
// Open writes the captured /proc facts as a tree under `proc_dir` (PID/maps, stat, environ,
// cmdline, exe as a symlink to the captured path, and root as a symlink to "/"), so a pipeline
// whose ProcFs root is `proc_dir` sees the processes as they were. Mapped files are opened from
// this host at replay, through PID/root: the capture holds their paths, not their bytes, so the
// same files (same build) must be present for frames to symbolize as they did live. Process
// memory is not captured: Python frames replay as unresolved functions (see
// PipelineOptions::process_memory), their interpreter and native frames as live.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "profkit/sampling/record_file.h"
#include "profkit/sampling/sample_source.h"

namespace profkit::sampling {

// Writes one process's facts under `proc_dir` as described above.
Status WriteProcessTree(const std::string& proc_dir, const ProcessSnapshot& process);

class ReplaySource final : public SampleSource {
 public:
  // Records handed out per Poll; a Poll never waits.
  static constexpr size_t kDefaultRecordsPerPoll = 256;

  static Result<std::unique_ptr<ReplaySource>> Open(
      const std::string& record_file, const std::string& proc_dir,
      size_t records_per_poll = kDefaultRecordsPerPoll);
  ReplaySource(RecordFileContents contents, size_t records_per_poll);

  Result<int> Poll(std::chrono::milliseconds timeout, const RecordHandler& on_record) override;
  SamplerCounters counters() const override { return counters_; }
  bool exhausted() const override { return next_ >= records_.size(); }
  void SetRawRecordTap(RawRecordTap tap) override { tap_ = std::move(tap); }

  // Registrations are remembered (tests check them); nothing walks Python stacks in a replay.
  Status RegisterPythonProcess(uint32_t pid, const profkit_python_process& layout) override;
  void UnregisterPythonProcess(uint32_t pid) override;
  const std::unordered_set<uint32_t>& registered_python_pids() const { return python_pids_; }

 private:
  std::vector<std::vector<uint8_t>> records_;
  size_t records_per_poll_;
  size_t next_ = 0;
  SamplerCounters counters_;
  RawRecordTap tap_;
  std::unordered_set<uint32_t> python_pids_;
};

}  // namespace profkit::sampling
