// `profkit record --dump-records FILE`: writes the raw ring-buffer records of the session to a
// record file (record_file.h) that ReplaySource replays without root: every process event (the
// target filter follows forks through them) and the samples of the recorded processes, with the
// /proc facts of each recorded process. The facts are read at the process's first kept sample
// and again at the first one after each exec or fork, when the dynamic loader has mapped the
// libraries (at the exec itself only the executable and the loader are mapped); a replay uses
// the last facts of each pid.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>

#include "profkit/process/proc_fs.h"
#include "profkit/sampling/record.h"
#include "profkit/sampling/record_file.h"

namespace profkit::record {

// /proc/PID's facts as the pipeline reads them; environ keeps only the variables profkit uses.
sampling::ProcessSnapshot SnapshotProcess(const process::ProcFs& proc_fs, uint32_t pid);

class RecordDump {
 public:
  // `keep_sample` says which pids' samples are recorded (the session's target filter).
  static Result<std::unique_ptr<RecordDump>> Create(const std::string& path,
                                                    std::function<bool(uint32_t pid)> keep_sample,
                                                    process::ProcFs proc_fs = process::ProcFs());

  // A SampleSource's raw record tap (sampling::RawRecordTap). The first write error is kept and
  // ends the dump (the recording goes on); Close reports it.
  void OnRawRecord(std::span<const uint8_t> bytes);
  Status Close();
  uint64_t records() const { return records_; }

 private:
  RecordDump(std::unique_ptr<sampling::RecordFileWriter> writer,
             std::function<bool(uint32_t pid)> keep_sample, process::ProcFs proc_fs)
      : writer_(std::move(writer)),
        keep_sample_(std::move(keep_sample)),
        proc_fs_(std::move(proc_fs)) {}
  void Keep(Status status);
  // Whether the record is written; snapshots the facts of a sampled process when due.
  bool Admit(const sampling::Record& record);

  std::unique_ptr<sampling::RecordFileWriter> writer_;
  std::function<bool(uint32_t pid)> keep_sample_;
  process::ProcFs proc_fs_;
  std::unordered_set<uint32_t> snapshotted_;  // facts current since the last exec/fork
  uint64_t records_ = 0;
  Status error_ = Status::Ok();
};

}  // namespace profkit::record
