// Where the pipeline tells the BPF walker which processes are CPython and how to read their frames.
// An interface so the pipeline runs without BPF in tests and in replay.
#pragma once

#include <cstdint>

#include "profkit/bpf_abi.h"
#include "profkit/common/status.h"

namespace profkit::sampling {

class PythonProcessRegistry {
 public:
  virtual ~PythonProcessRegistry() = default;
  // Starts (or updates) walking the Python frames of every thread of `pid`.
  virtual Status RegisterPythonProcess(uint32_t pid, const profkit_python_process& layout) = 0;
  // Stops it; unknown pids are ignored.
  virtual void UnregisterPythonProcess(uint32_t pid) = 0;
};

}  // namespace profkit::sampling
