// Reading another process's memory (CPython code objects and their strings). The reader is an
// interface so the decoders run against fake memory in tests.
#pragma once

#include <cstdint>
#include <span>

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

}  // namespace profkit::python
