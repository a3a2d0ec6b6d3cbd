// Reading another process's memory (CPython code objects and their strings). The reader is an
// interface so the decoders run against fake memory in tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

#include "profkit/common/clock.h"
#include "profkit/common/status.h"

namespace profkit::python {

class MemoryReader {
 public:
  virtual ~MemoryReader() = default;
  // Fills all of `out` from `address`; an error (naming the address) when any byte is unreadable.
  virtual Status Read(uint64_t address, std::span<uint8_t> out) const = 0;
};

// process_vm_readv on a live process: no ptrace stop, no attach. Fails once the process is gone.
class ProcessMemory final : public MemoryReader {
 public:
  explicit ProcessMemory(uint32_t pid) : pid_(pid) {}
  Status Read(uint64_t address, std::span<uint8_t> out) const override;

 private:
  uint32_t pid_;
};

// The bytes of other processes' memory read per second, all processes together (config
// [ebpf] python_read_kb_per_second). A code object is read once and cached, but a read that fails
// is tried again at the next sample: a process whose frames point at junk would make the agent
// read at the sample rate for as long as it runs. Reads past the second's budget are refused (that
// frame is unknown; a later sample reads it again) and counted. Thread-safe.
class ReadBudget {
 public:
  // `now_ns` is the clock the seconds are counted on (tests pass their own).
  explicit ReadBudget(uint64_t bytes_per_second, std::function<int64_t()> now_ns = &MonotonicNanos);

  // Spends `bytes` of the current second's budget; false (and counted) when it has not that much.
  bool Take(uint64_t bytes);

  uint64_t bytes_per_second() const { return bytes_per_second_; }
  uint64_t bytes_read() const;  // spent since start
  uint64_t refusals() const;    // reads refused since start

 private:
  const uint64_t bytes_per_second_;
  const std::function<int64_t()> now_ns_;
  mutable std::mutex mutex_;
  int64_t second_start_ns_ = 0;
  uint64_t spent_this_second_ = 0;
  uint64_t bytes_read_ = 0;
  uint64_t refusals_ = 0;
};

// Reads through `inner` once `budget` (which must outlive it) grants the bytes.
class BudgetedMemory final : public MemoryReader {
 public:
  BudgetedMemory(std::unique_ptr<MemoryReader> inner, ReadBudget& budget)
      : inner_(std::move(inner)), budget_(budget) {}
  Status Read(uint64_t address, std::span<uint8_t> out) const override;

 private:
  std::unique_ptr<MemoryReader> inner_;
  ReadBudget& budget_;
};

}  // namespace profkit::python
