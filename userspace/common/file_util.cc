#include "profkit/common/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "profkit/common/unique_fd.h"

namespace profkit {

Result<std::string> ReadFileBounded(const std::string& path, size_t max_bytes, bool truncate_ok) {
  const UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::FromErrno(fmt::format("open {}", path), errno);
  std::string data;
  char buffer[16384];
  while (true) {
    const ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(fmt::format("read {}", path), errno);
    }
    if (n == 0) break;
    if (data.size() + static_cast<size_t>(n) > max_bytes) {
      if (!truncate_ok) return Status::TooLargef("read {}: larger than {} bytes", path, max_bytes);
      data.append(buffer, max_bytes - data.size());
      break;
    }
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

Status WriteFileAtomically(const std::string& path, std::string_view data) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, getpid());
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Status::FromErrno(fmt::format("create {}", tmp), errno);
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = write(fd.get(), data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      fd.reset();
      unlink(tmp.c_str());
      return Status::FromErrno(fmt::format("write {}", tmp), err);
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd.get()) != 0 || fd.Close() != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return Status::FromErrno(fmt::format("sync {}", tmp), err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return Status::FromErrno(fmt::format("rename {} to {}", tmp, path), err);
  }
  return Status::Ok();
}

Status MakeDirectories(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  // libstdc++'s filesystem errors are errno values (generic category), so the code maps too.
  if (error) return Status::FromErrno(fmt::format("create directory {}", path), error.value());
  return Status::Ok();
}

}  // namespace profkit
