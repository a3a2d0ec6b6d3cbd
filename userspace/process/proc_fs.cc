#include "profkit/process/proc_fs.h"

#include <dirent.h>
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "profkit/common/file_util.h"

namespace profkit::process {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

}  // namespace

ProcFs::ProcFs(std::string root)
    : root_(std::move(root)), environ_truncated_(std::make_shared<std::atomic<uint64_t>>(0)) {}

std::string ProcFs::PidPath(uint32_t pid, std::string_view file) const {
  return fmt::format("{}/{}/{}", root_, pid, file);
}

Result<std::vector<MemoryMapping>> ProcFs::ReadMaps(uint32_t pid) const {
  const std::string path = PidPath(pid, "maps");
  PROFKIT_ASSIGN_OR_RETURN(const std::string text, ReadFileBounded(path, kMaxMapsBytes));
  return ParseProcMaps(text).WithContext(fmt::format("parsing {}", path));
}

Result<ProcessStat> ProcFs::ReadStat(uint32_t pid) const {
  const std::string path = PidPath(pid, "stat");
  PROFKIT_ASSIGN_OR_RETURN(const std::string text, ReadFileBounded(path, kMaxStatBytes));
  return ParseProcStat(text).WithContext(fmt::format("parsing {}", path));
}

Result<ServiceEnvironment> ProcFs::ReadServiceEnvironment(uint32_t pid) const {
  // One byte more than the limit tells a file of exactly the limit from a longer one.
  PROFKIT_ASSIGN_OR_RETURN(
      std::string blob,
      ReadFileBounded(PidPath(pid, "environ"), kMaxEnvironBytes + 1, /*truncate_ok=*/true));
  if (blob.size() > kMaxEnvironBytes) {
    // Drop the variable the cut went through: a partial DD_SERVICE value would be wrong.
    const size_t last_nul = blob.rfind('\0', kMaxEnvironBytes - 1);
    blob.resize(last_nul == std::string::npos ? 0 : last_nul + 1);
    environ_truncated_->fetch_add(1, std::memory_order_relaxed);
  }
  return ParseServiceEnvironment(blob);
}

Result<std::string> ProcFs::ReadExecutablePath(uint32_t pid) const {
  const std::string link = PidPath(pid, "exe");
  char buffer[PATH_MAX];
  const ssize_t n = readlink(link.c_str(), buffer, sizeof(buffer));
  if (n < 0) return Status::FromErrno(fmt::format("readlink {}", link), errno);
  if (static_cast<size_t>(n) == sizeof(buffer)) {
    return Status::TooLargef("readlink {}: target longer than {} bytes", link, sizeof(buffer) - 1);
  }
  std::string path(buffer, static_cast<size_t>(n));
  if (path.ends_with(kDeletedSuffix)) path.resize(path.size() - kDeletedSuffix.size());
  return path;
}

Result<std::vector<std::string>> ProcFs::ReadCommandLine(uint32_t pid) const {
  PROFKIT_ASSIGN_OR_RETURN(
      std::string blob,
      ReadFileBounded(PidPath(pid, "cmdline"), kMaxCmdlineBytes, /*truncate_ok=*/true));
  return SplitNulSeparated(blob);
}

Result<std::optional<ContainerIdentity>> ProcFs::ReadContainer(uint32_t pid) const {
  PROFKIT_ASSIGN_OR_RETURN(
      const std::string text,
      ReadFileBounded(PidPath(pid, "cgroup"), kMaxCgroupFileBytes, /*truncate_ok=*/true));
  return ParseCgroupFile(text);
}

Result<std::string> ProcFs::ReadThreadName(uint32_t pid, uint32_t tid) const {
  PROFKIT_ASSIGN_OR_RETURN(std::string name,
                           ReadFileBounded(fmt::format("{}/{}/task/{}/comm", root_, pid, tid),
                                           kMaxCommBytes, /*truncate_ok=*/true));
  if (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

std::vector<uint32_t> ProcFs::ListPids() const {
  std::vector<uint32_t> pids;
  DIR* dir = opendir(root_.c_str());
  if (dir == nullptr) return pids;
  while (const dirent* entry = readdir(dir)) {
    const std::string_view name = entry->d_name;
    uint32_t pid = 0;
    const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (error == std::errc() && end == name.data() + name.size() && pid > 0) pids.push_back(pid);
  }
  closedir(dir);
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::string ProcFs::MapFilesPath(uint32_t pid, const MemoryMapping& m) const {
  return fmt::format("{}/{}/map_files/{:x}-{:x}", root_, pid, m.start, m.end);
}

std::string ProcFs::RootPath(uint32_t pid, std::string_view absolute_path) const {
  const std::string_view separator = absolute_path.starts_with('/') ? "" : "/";
  return fmt::format("{}/{}/root{}{}", root_, pid, separator, absolute_path);
}

}  // namespace profkit::process
