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

ReadBudget::ReadBudget(uint64_t bytes_per_second, std::function<int64_t()> now_ns)
    : bytes_per_second_(bytes_per_second), now_ns_(std::move(now_ns)) {
  second_start_ns_ = now_ns_();
}

bool ReadBudget::Take(uint64_t bytes) {
  const int64_t now = now_ns_();
  const std::lock_guard lock(mutex_);
  if (now - second_start_ns_ >= 1'000'000'000) {
    second_start_ns_ = now;
    spent_this_second_ = 0;
  }
  if (bytes > bytes_per_second_ - spent_this_second_) {
    ++refusals_;
    return false;
  }
  spent_this_second_ += bytes;
  bytes_read_ += bytes;
  return true;
}

uint64_t ReadBudget::bytes_read() const {
  const std::lock_guard lock(mutex_);
  return bytes_read_;
}

uint64_t ReadBudget::refusals() const {
  const std::lock_guard lock(mutex_);
  return refusals_;
}

Status BudgetedMemory::Read(uint64_t address, std::span<uint8_t> out) const {
  if (!budget_.Take(out.size())) {
    return Status::TooLargef(
        "reading {} bytes at {:#x}: this second's budget of {} bytes of process memory is spent "
        "([ebpf] python_read_kb_per_second)",
        out.size(), address, budget_.bytes_per_second());
  }
  return inner_->Read(address, out);
}

}  // namespace profkit::python
