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

Result<std::unique_ptr<RecordDump>> RecordDump::Create(const std::string& path,
                                                       process::ProcFs proc_fs) {
  PROFKIT_ASSIGN_OR_RETURN(std::unique_ptr<sampling::RecordFileWriter> writer,
                           sampling::RecordFileWriter::Create(path));
  return std::unique_ptr<RecordDump>(new RecordDump(std::move(writer), std::move(proc_fs)));
}

void RecordDump::Keep(Status status) {
  if (error_.ok() && !status.ok()) error_ = std::move(status);
}

void RecordDump::OnRawRecord(std::span<const uint8_t> bytes) {
  if (!error_.ok()) return;
  Keep(writer_->AppendRecord(bytes));
  ++records_;
  Result<sampling::Record> record = sampling::DecodeRecord(bytes);
  if (!record.ok()) return;  // kept as captured: the replay counts it as a decode error too
  uint32_t pid = 0;
  bool image_changed = false;
  if (const auto* sample = std::get_if<sampling::SampleRecord>(&*record)) {
    pid = sample->pid;
  } else {
    const auto& event = std::get<sampling::ProcessEventRecord>(*record);
    pid = event.pid;
    image_changed = event.kind == sampling::ProcessEventRecord::Kind::kExec;
  }
  if (!seen_.insert(pid).second && !image_changed) return;
  Keep(writer_->AppendProcess(SnapshotProcess(proc_fs_, pid)));
}

Status RecordDump::Close() {
  Keep(writer_->Close());
  return error_;
}

}  // namespace profkit::record
