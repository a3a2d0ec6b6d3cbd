// The CPython processes on the host: found from their mapped modules' symbols when a process's
// mappings are read, registered with the BPF walker, and unregistered when the process is gone.
// Turns what the walker emits into Python frames while the process is alive (code objects are
// read from its memory) and tells the stack merge where the interpreter's code is.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "profkit/pipeline/process_table.h"
#include "profkit/pipeline/python_stacks.h"
#include "profkit/python/frame_resolver.h"
#include "profkit/python/interpreter.h"
#include "profkit/sampling/python_registry.h"
#include "profkit/sampling/record.h"
#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::pipeline {

struct PythonCounters {
  uint64_t processes = 0;    // registered now
  uint64_t detected = 0;     // CPython processes found since start
  uint64_t unsupported = 0;  // CPython processes that get native stacks only
  uint64_t registration_failures = 0;
  uint64_t code_reads = 0;
  uint64_t code_read_failures = 0;
  uint64_t checksum_mismatches = 0;
  uint64_t functions = 0;  // distinct Python functions interned
  uint64_t function_table_full = 0;
  uint64_t memory_bytes_read = 0;       // of processes' memory, since start
  uint64_t memory_budget_refusals = 0;  // reads refused by [ebpf] python_read_kb_per_second
};

// [ebpf] python_read_kb_per_second's default: a few thousand new code objects a second.
inline constexpr uint64_t kDefaultPythonReadBytesPerSecond = 8ULL << 20;

// The process memory of a replay (sampling/replay_source.h), which captures none: every read
// fails, so code objects are not read and Python frames stay unresolved.
class NoProcessMemory final : public python::MemoryReader {
 public:
  Status Read(uint64_t address, std::span<uint8_t>) const override {
    return Status::Unavailablef("no process memory in a replay (address 0x{:x})", address);
  }
};

class PythonProcesses final : public ProcessTable::Observer {
 public:
  struct State {
    uint32_t pid = 0;
    uint32_t interpreter_module = profile::kUnknownModule;
    python::InterpreterModule interpreter;
    std::unique_ptr<python::CodeObjectCache> code_cache;
    std::string version;  // "3.11.2"
    bool registered = false;
    profkit_python_process layout{};  // as registered
  };

  // How code objects are read from a process: python::ProcessMemory live; a replay, which has
  // no process memory, passes a reader that fails (its Python frames stay unresolved).
  using MemoryReaderFactory = std::function<std::unique_ptr<python::MemoryReader>(uint32_t pid)>;

  // An empty `memory` reads the live process (python::ProcessMemory). Every reader it gives is
  // bounded by one budget of `read_bytes_per_second` for all processes (python::ReadBudget).
  PythonProcesses(symbolize::NativeSymbolizer& symbolizer, const process::ProcFs& proc_fs,
                  std::string default_env, MemoryReaderFactory memory = {},
                  uint64_t read_bytes_per_second = kDefaultPythonReadBytesPerSecond);
  ~PythonProcesses() override;

  // Where registrations go (the BPF sampler); null unregisters everything and stops registering.
  // Processes found while there was none are registered at their next mappings load.
  void SetRegistry(sampling::PythonProcessRegistry* registry);

  // Call after `process`'s mappings were (re)read. Detects CPython in the executable or a mapped
  // module whose name contains "python" (each module is inspected once), registers the process
  // and makes it a Python service (language, runtime version, script-name service).
  void OnMappingsLoaded(ProcessTable::Process& process) override;
  // Unregisters the process and drops its code-object cache.
  void OnImageGone(uint32_t pid) override;
  // A fork of a Python process (multiprocessing, pre-forking servers) is walked from its first
  // sample on, with its parent's layout, before its own /proc state is read.
  void OnForked(uint32_t parent, uint32_t child) override;

  State* Find(uint32_t pid);

  profile::Frame Resolve(State& state, const sampling::PythonFrameRecord& record);
  NativeFrameRole RoleOf(const State& state, const profile::Frame& frame) const;

  const python::FunctionTable& functions() const { return functions_; }
  PythonCounters counters() const;

 private:
  struct ModuleVerdict {
    std::optional<python::InterpreterModule> interpreter;
    std::string unsupported_reason;
  };
  const ModuleVerdict& Inspect(uint32_t module_id, const std::string& path);
  // A new state for `pid`, whose interpreter is `interpreter` loaded from `interpreter_module`.
  State& AddState(uint32_t pid, uint32_t interpreter_module,
                  const python::InterpreterModule& interpreter);
  void Register(State& state, const ProcessTable::Process& process);
  void BecomePythonService(ProcessTable::Process& process, const State& state);

  symbolize::NativeSymbolizer& symbolizer_;
  const process::ProcFs& proc_fs_;
  const std::string default_env_;
  const MemoryReaderFactory memory_;
  // Declared before the states, whose readers spend it.
  python::ReadBudget read_budget_;
  sampling::PythonProcessRegistry* registry_ = nullptr;
  python::FunctionTable functions_;
  std::unordered_map<uint32_t, ModuleVerdict> verdicts_;  // by module id (never reused)
  std::unordered_map<uint32_t, State> states_;            // by pid
  // Pids already reported as unsupported, so each says it once per image.
  std::unordered_set<uint32_t> reported_;
  PythonCounters counters_;
  python::CodeCacheCounters retired_code_counters_;
};

}  // namespace profkit::pipeline
