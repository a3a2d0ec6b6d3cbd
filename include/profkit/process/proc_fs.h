// Reads one process's /proc files under a configurable root, so tests point it at a fake tree.
// Every read is bounded; errors name the path.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/process/cgroup.h"
#include "profkit/process/proc_parsers.h"

namespace profkit::process {

// /proc/<pid>/maps of a process with kMaxMappings long-path mappings stays below this.
inline constexpr size_t kMaxMapsBytes = 16 << 20;
// /proc/<pid>/stat is one line of ~52 numbers and a comm of at most 15 bytes.
inline constexpr size_t kMaxStatBytes = 4096;
// Environment variables beyond the first MiB are not looked at (the blob is cut at the last
// complete variable); counted in environ_truncated().
inline constexpr size_t kMaxEnvironBytes = 1 << 20;
// The command line is only used for a script name near its start: longer ones are cut.
inline constexpr size_t kMaxCmdlineBytes = 64 << 10;
// Thread names are at most 15 bytes (TASK_COMM_LEN - 1); a longer file is cut.
inline constexpr size_t kMaxCommBytes = 64;

class ProcFs {
 public:
  explicit ProcFs(std::string root = "/proc");

  const std::string& root() const { return root_; }

  Result<std::vector<MemoryMapping>> ReadMaps(uint32_t pid) const;
  Result<ProcessStat> ReadStat(uint32_t pid) const;
  Result<ServiceEnvironment> ReadServiceEnvironment(uint32_t pid) const;
  // readlink <root>/PID/exe with " (deleted)" stripped.
  Result<std::string> ReadExecutablePath(uint32_t pid) const;
  // <root>/PID/cmdline split at its NULs (at most kMaxCmdlineBytes of it).
  Result<std::vector<std::string>> ReadCommandLine(uint32_t pid) const;
  // The container <root>/PID/cgroup names (at most kMaxCgroupFileBytes of it); nullopt when the
  // process is in no container.
  Result<std::optional<ContainerIdentity>> ReadContainer(uint32_t pid) const;
  // <root>/PID/task/TID/comm without the trailing newline.
  Result<std::string> ReadThreadName(uint32_t pid, uint32_t tid) const;
  // The numeric entries of root, ascending; at most pid_max (<= 4194304) of them. An unreadable
  // root gives an empty list.
  std::vector<uint32_t> ListPids() const;

  // "<root>/PID/map_files/<start>-<end>" in lowercase hex without 0x: opens the mapped file even
  // when it was deleted or lives in another mount namespace.
  std::string MapFilesPath(uint32_t pid, const MemoryMapping& m) const;
  // "<root>/PID/root<absolute_path>": the path as the process sees it (its mount namespace).
  std::string RootPath(uint32_t pid, std::string_view absolute_path) const;

  // How many environ reads hit kMaxEnvironBytes (shared by copies of this ProcFs).
  uint64_t environ_truncated() const { return environ_truncated_->load(std::memory_order_relaxed); }

 private:
  std::string PidPath(uint32_t pid, std::string_view file) const;

  std::string root_;
  // Shared so that ProcFs stays copyable and copies report one total.
  std::shared_ptr<std::atomic<uint64_t>> environ_truncated_;
};

}  // namespace profkit::process
