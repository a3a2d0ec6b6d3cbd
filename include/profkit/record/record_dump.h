// `profkit record --dump-records FILE`: writes every raw ring-buffer record the session reads,
// and the /proc facts of each process the records name, to a record file (record_file.h) that
// ReplaySource replays without root. Facts are read when a pid is first seen and again after
// each exec, so they describe the program its later samples ran.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>

#include "profkit/process/proc_fs.h"
#include "profkit/sampling/record_file.h"

namespace profkit::record {

// /proc/PID's facts as the pipeline reads them; environ keeps only the variables profkit uses.
sampling::ProcessSnapshot SnapshotProcess(const process::ProcFs& proc_fs, uint32_t pid);

class RecordDump {
 public:
  static Result<std::unique_ptr<RecordDump>> Create(const std::string& path,
                                                    process::ProcFs proc_fs = process::ProcFs());

  // A SampleSource's raw record tap (sampling::RawRecordTap). The first write error is kept and
  // ends the dump (the recording goes on); Close reports it.
  void OnRawRecord(std::span<const uint8_t> bytes);
  Status Close();
  uint64_t records() const { return records_; }

 private:
  RecordDump(std::unique_ptr<sampling::RecordFileWriter> writer, process::ProcFs proc_fs)
      : writer_(std::move(writer)), proc_fs_(std::move(proc_fs)) {}
  void Keep(Status status);

  std::unique_ptr<sampling::RecordFileWriter> writer_;
  process::ProcFs proc_fs_;
  std::unordered_set<uint32_t> seen_;
  uint64_t records_ = 0;
  Status error_ = Status::Ok();
};

}  // namespace profkit::record
