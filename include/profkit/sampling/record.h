// Decoding of the ring-buffer records written by bpf/ (layouts in profkit/bpf_abi.h) into plain
// values. Pure: the bytes are untrusted and every count is checked against the record's size.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::sampling {

// One CPython frame as the BPF walker read it (profkit_python_frame).
struct PythonFrameRecord {
  uint64_t code_object = 0;
  int32_t instruction = 0;
  uint16_t checksum = 0;
  // The outermost Python frame of one eval-loop invocation on the native stack.
  bool entry = false;

  bool operator==(const PythonFrameRecord&) const = default;
};

enum class PythonWalkStatus : uint8_t {
  kNotPython,  // the process is not registered as CPython
  kOk,
  kNoKey,          // the interpreter's thread-state key is not created yet
  kNoThreadState,  // a native thread of a Python process
  kReadError,      // memory could not be read; the frames before the failure are kept
};

// One CPU-clock sample of one thread, or (off_cpu) the stacks of a thread leaving the CPU; how
// long it stays away arrives later, in an OffCpuEndRecord.
struct SampleRecord {
  uint32_t pid = 0;  // tgid
  uint32_t tid = 0;
  uint32_t cpu = 0;
  uint64_t ktime_ns = 0;  // CLOCK_MONOTONIC
  std::string comm;
  std::vector<uint64_t> kernel_ips;  // innermost first; empty when kernel stacks are off
  std::vector<uint64_t> user_ips;    // innermost first
  // The stack filled every slot of its buffer: outer frames are probably missing.
  bool kernel_stack_truncated = false;
  bool user_stack_truncated = false;
  // The kernel could not walk that stack; its IP list is empty.
  bool kernel_stack_error = false;
  bool user_stack_error = false;
  // The native unwinder (unwind tables) walked the user stack, not bpf_get_stack().
  bool user_stack_unwound = false;
  // The words at the interrupted user stack pointer (see PROFKIT_STACK_TOP_WORDS); empty when
  // they could not be read.
  std::vector<uint64_t> user_stack_top;
  PythonWalkStatus python_status = PythonWalkStatus::kNotPython;
  std::vector<PythonFrameRecord> python_frames;  // innermost first
  bool python_stack_truncated = false;
  // PROFKIT_EVENT_OFF_CPU: the thread left the CPU at ktime_ns; the record stands for
  // off_cpu_events switches (1-in-N sampling).
  bool off_cpu = false;
  uint32_t off_cpu_events = 0;

  bool operator==(const SampleRecord&) const = default;
};

struct ProcessEventRecord {
  enum class Kind {
    kExec,  // pid now runs a new program named comm
    kFork,  // pid is a new process (not a thread) started by ppid
    kExit,  // pid's thread group leader exited
  };
  Kind kind = Kind::kExec;
  uint32_t pid = 0;   // tgid
  uint32_t ppid = 0;  // tgid of the parent
  std::string comm;

  bool operator==(const ProcessEventRecord&) const = default;
};

// The thread of the off-CPU SampleRecord (tid, switch_out_ktime_ns) runs again.
struct OffCpuEndRecord {
  uint32_t pid = 0;  // tgid
  uint32_t tid = 0;
  uint64_t switch_out_ktime_ns = 0;
  uint64_t off_cpu_ns = 0;  // weighted by off_cpu_events
  uint32_t off_cpu_events = 0;

  bool operator==(const OffCpuEndRecord&) const = default;
};

using Record = std::variant<SampleRecord, ProcessEventRecord, OffCpuEndRecord>;

// Decodes one ring-buffer record. Errors say what was inconsistent (sizes, counts, kind, flags).
Result<Record> DecodeRecord(std::span<const uint8_t> bytes);

}  // namespace profkit::sampling
