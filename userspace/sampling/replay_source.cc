#include "profkit/sampling/replay_source.h"

#include <unistd.h>

#include <cerrno>

#include "profkit/common/file_util.h"

namespace profkit::sampling {
namespace {

Status WriteIfPresent(const std::string& dir, const char* name,
                      const std::optional<std::string>& value) {
  if (!value) return Status::Ok();
  return WriteFileAtomically(dir + "/" + name, *value);
}

Status Symlink(const std::string& target, const std::string& link) {
  if (unlink(link.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(fmt::format("removing {}", link), errno);
  }
  if (symlink(target.c_str(), link.c_str()) != 0) {
    return Status::FromErrno(fmt::format("symlink {} -> {}", link, target), errno);
  }
  return Status::Ok();
}

}  // namespace

Status WriteProcessTree(const std::string& proc_dir, const ProcessSnapshot& process) {
  const std::string dir = fmt::format("{}/{}", proc_dir, process.pid);
  PROFKIT_RETURN_IF_ERROR(MakeDirectories(dir));
  PROFKIT_RETURN_IF_ERROR(WriteIfPresent(dir, "maps", process.maps));
  PROFKIT_RETURN_IF_ERROR(WriteIfPresent(dir, "stat", process.stat));
  PROFKIT_RETURN_IF_ERROR(WriteIfPresent(dir, "environ", process.environ));
  PROFKIT_RETURN_IF_ERROR(WriteIfPresent(dir, "cmdline", process.cmdline));
  if (process.exe) PROFKIT_RETURN_IF_ERROR(Symlink(*process.exe, dir + "/exe"));
  // Mapped files are opened from this host (see the header).
  return Symlink("/", dir + "/root");
}

Result<std::unique_ptr<ReplaySource>> ReplaySource::Open(const std::string& record_file,
                                                         const std::string& proc_dir,
                                                         size_t records_per_poll) {
  PROFKIT_ASSIGN_OR_RETURN(RecordFileContents contents, ReadRecordFile(record_file));
  for (const auto& [pid, process] : contents.processes) {
    PROFKIT_RETURN_IF_ERROR(WriteProcessTree(proc_dir, process).WithContext("replay /proc tree"));
  }
  return std::make_unique<ReplaySource>(std::move(contents), records_per_poll);
}

ReplaySource::ReplaySource(RecordFileContents contents, size_t records_per_poll)
    : records_(std::move(contents.records)),
      records_per_poll_(std::max<size_t>(1, records_per_poll)) {}

Result<int> ReplaySource::Poll(std::chrono::milliseconds /*timeout*/,
                               const RecordHandler& on_record) {
  int handled = 0;
  const size_t end = std::min(records_.size(), next_ + records_per_poll_);
  for (; next_ < end; ++next_) {
    const std::span<const uint8_t> bytes(records_[next_]);
    if (tap_) tap_(bytes);
    Result<Record> record = DecodeRecord(bytes);
    if (!record.ok()) {
      ++counters_.decode_errors;
      continue;
    }
    if (const auto* sample = std::get_if<SampleRecord>(&*record)) {
      ++counters_.samples;
      if (sample->off_cpu) ++counters_.off_cpu_records;
    } else if (std::holds_alternative<ProcessEventRecord>(*record)) {
      ++counters_.process_events;
    }
    on_record(*record);
    ++handled;
  }
  return handled;
}

Status ReplaySource::RegisterPythonProcess(uint32_t pid, const profkit_python_process& /*layout*/) {
  python_pids_.insert(pid);
  return Status::Ok();
}

void ReplaySource::UnregisterPythonProcess(uint32_t pid) { python_pids_.erase(pid); }

}  // namespace profkit::sampling
