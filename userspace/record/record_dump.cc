#include "profkit/record/record_dump.h"

#include <variant>

#include "profkit/common/file_util.h"
#include "profkit/sampling/record.h"

namespace profkit::record {
namespace {

std::optional<std::string> ReadOptional(const process::ProcFs& proc_fs, uint32_t pid,
                                        const char* file, size_t max_bytes) {
  Result<std::string> text =
      ReadFileBounded(fmt::format("{}/{}/{}", proc_fs.root(), pid, file), max_bytes, true);
  return text.ok() ? std::optional<std::string>(std::move(text).value()) : std::nullopt;
}

// The variables ParseServiceEnvironment reads, re-encoded as an environ blob.
std::optional<std::string> ServiceEnvironBlob(const process::ProcFs& proc_fs, uint32_t pid) {
  Result<process::ServiceEnvironment> env = proc_fs.ReadServiceEnvironment(pid);
  if (!env.ok()) return std::nullopt;
  std::string blob;
  const auto add = [&blob](const char* name, const std::optional<std::string>& value) {
    if (value) blob += fmt::format("{}={}", name, *value) + '\0';
  };
  add("DD_SERVICE", env->dd_service);
  add("OTEL_SERVICE_NAME", env->otel_service_name);
  add("DD_ENV", env->dd_env);
  add("DD_VERSION", env->dd_version);
  return blob;
}

}  // namespace

sampling::ProcessSnapshot SnapshotProcess(const process::ProcFs& proc_fs, uint32_t pid) {
  Result<std::string> exe = proc_fs.ReadExecutablePath(pid);
  return sampling::ProcessSnapshot{
      .pid = pid,
      .maps = ReadOptional(proc_fs, pid, "maps", process::kMaxMapsBytes),
      .stat = ReadOptional(proc_fs, pid, "stat", process::kMaxStatBytes),
      .environ = ServiceEnvironBlob(proc_fs, pid),
      .exe = exe.ok() ? std::optional<std::string>(std::move(exe).value()) : std::nullopt,
      .cmdline = ReadOptional(proc_fs, pid, "cmdline", process::kMaxCmdlineBytes)};
}

Result<std::unique_ptr<RecordDump>> RecordDump::Create(
    const std::string& path, std::function<bool(uint32_t pid)> keep_sample,
    process::ProcFs proc_fs) {
  PROFKIT_ASSIGN_OR_RETURN(std::unique_ptr<sampling::RecordFileWriter> writer,
                           sampling::RecordFileWriter::Create(path));
  return std::unique_ptr<RecordDump>(
      new RecordDump(std::move(writer), std::move(keep_sample), std::move(proc_fs)));
}

void RecordDump::Keep(Status status) {
  if (error_.ok() && !status.ok()) error_ = std::move(status);
}

bool RecordDump::Admit(const sampling::Record& record) {
  if (const auto* event = std::get_if<sampling::ProcessEventRecord>(&record)) {
    if (event->kind != sampling::ProcessEventRecord::Kind::kExit) snapshotted_.erase(event->pid);
    return true;
  }
  // The end of an off-CPU wait belongs with its stacks: kept when they are.
  if (const auto* end = std::get_if<sampling::OffCpuEndRecord>(&record)) {
    return keep_sample_(end->pid);
  }
  const uint32_t pid = std::get<sampling::SampleRecord>(record).pid;
  if (!keep_sample_(pid)) return false;
  if (snapshotted_.insert(pid).second) Keep(writer_->AppendProcess(SnapshotProcess(proc_fs_, pid)));
  return true;
}

void RecordDump::OnRawRecord(std::span<const uint8_t> bytes) {
  if (!error_.ok()) return;
  Result<sampling::Record> record = sampling::DecodeRecord(bytes);
  // An undecodable record is kept as captured: the replay counts it as a decode error too.
  if (record.ok() && !Admit(*record)) return;
  Keep(writer_->AppendRecord(bytes));
  ++records_;
}

Status RecordDump::Close() {
  Keep(writer_->Close());
  return error_;
}

}  // namespace profkit::record
