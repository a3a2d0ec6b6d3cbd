#include "profkit/python/process_memory.h"

#include <sys/uio.h>

#include <cerrno>

namespace profkit::python {

Status ProcessMemory::Read(uint64_t address, std::span<uint8_t> out) const {
  if (out.empty()) return Status::Ok();
  iovec local{.iov_base = out.data(), .iov_len = out.size()};
  iovec remote{.iov_base = reinterpret_cast<void*>(address), .iov_len = out.size()};
  const ssize_t n = process_vm_readv(static_cast<pid_t>(pid_), &local, 1, &remote, 1, 0);
  if (n < 0) {
    return Status::FromErrno(
        fmt::format("reading {} bytes at {:#x} of process {}", out.size(), address, pid_), errno);
  }
  if (static_cast<size_t>(n) != out.size()) {
    return Status::InvalidInputf("reading {} bytes at {:#x} of process {}: only {} readable",
                                 out.size(), address, pid_, n);
  }
  return Status::Ok();
}

}  // namespace profkit::python
