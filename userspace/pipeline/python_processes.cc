#include "profkit/pipeline/python_processes.h"

#include <algorithm>

#include "profkit/common/file_util.h"
#include "profkit/common/log.h"

namespace profkit::pipeline {
namespace {

// Module verdicts are tiny; past this many (module ids only grow) the map restarts.
constexpr size_t kMaxModuleVerdicts = 65536;

bool IsCandidate(const ProcessTable::Process& process, const process::MemoryMapping& m) {
  if (m.path == process.executable_path) return true;
  return PathBasename(m.path).find("python") != std::string_view::npos;
}

std::string VersionString(const python::PythonVersion& v) {
  return v.micro ? fmt::format("{}.{}.{}", v.major, v.minor, *v.micro)
                 : fmt::format("{}.{}", v.major, v.minor);
}

}  // namespace

PythonProcesses::PythonProcesses(symbolize::NativeSymbolizer& symbolizer,
                                 const process::ProcFs& proc_fs, std::string default_env,
                                 MemoryReaderFactory memory, uint64_t read_bytes_per_second)
    : symbolizer_(symbolizer),
      proc_fs_(proc_fs),
      default_env_(std::move(default_env)),
      memory_(memory ? std::move(memory)
                     : [](uint32_t pid) -> std::unique_ptr<python::MemoryReader> {
        return std::make_unique<python::ProcessMemory>(pid);
      }),
      read_budget_(read_bytes_per_second) {}

PythonProcesses::~PythonProcesses() = default;

void PythonProcesses::SetRegistry(sampling::PythonProcessRegistry* registry) {
  if (registry_ != nullptr) {
    for (auto& [pid, state] : states_) {
      if (state.registered) registry_->UnregisterPythonProcess(pid);
      state.registered = false;
    }
  }
  registry_ = registry;
}

const PythonProcesses::ModuleVerdict& PythonProcesses::Inspect(uint32_t module_id,
                                                               const std::string& path) {
  if (auto it = verdicts_.find(module_id); it != verdicts_.end()) return it->second;
  if (verdicts_.size() >= kMaxModuleVerdicts) verdicts_.clear();
  ModuleVerdict verdict;
  Result<python::InterpreterInspection> inspection =
      python::InspectInterpreterModule(symbolizer_, module_id, path);
  if (!inspection.ok()) {
    spdlog::debug("{}: not inspected for CPython: {}", path, inspection.status().message());
  } else {
    verdict.interpreter = std::move(inspection->interpreter);
    verdict.unsupported_reason = std::move(inspection->unsupported_reason);
  }
  return verdicts_.emplace(module_id, std::move(verdict)).first->second;
}

void PythonProcesses::OnMappingsLoaded(ProcessTable::Process& process) {
  auto existing = states_.find(process.pid);
  if (existing != states_.end()) {
    const uint32_t module = existing->second.interpreter_module;
    const bool still_mapped =
        std::any_of(process.mappings.begin(), process.mappings.end(),
                    [module](const ProcessTable::Mapping& m) { return m.module_id == module; });
    if (still_mapped) {
      // A forked child known since its fork becomes a Python service once its details are read.
      if (process.language != "python") BecomePythonService(process, existing->second);
      if (!existing->second.registered) Register(existing->second, process);
      return;
    }
    // A fork that exec'd before its exec event arrived: /proc already shows the new program.
    OnImageGone(process.pid);
  }
  for (const ProcessTable::Mapping& mapping : process.mappings) {
    if (mapping.module_id == profile::kUnknownModule || !IsCandidate(process, mapping.mapping))
      continue;
    const ModuleVerdict& verdict = Inspect(mapping.module_id, mapping.mapping.path);
    if (!verdict.unsupported_reason.empty()) {
      if (reported_.insert(process.pid).second) {
        ++counters_.unsupported;
        spdlog::warn("process {} ({}): {}; native stacks only", process.pid, process.comm,
                     verdict.unsupported_reason);
      }
      return;
    }
    if (!verdict.interpreter) continue;
    State& state = AddState(process.pid, mapping.module_id, *verdict.interpreter);
    ++counters_.detected;
    spdlog::debug("process {} ({}) runs CPython {} from {}", process.pid, process.comm,
                  state.version, mapping.mapping.path);
    BecomePythonService(process, state);
    Register(state, process);
    return;
  }
}

void PythonProcesses::Register(State& state, const ProcessTable::Process& process) {
  if (registry_ == nullptr) return;
  const auto mapping = std::find_if(
      process.mappings.begin(), process.mappings.end(),
      [&](const ProcessTable::Mapping& m) { return m.module_id == state.interpreter_module; });
  if (mapping == process.mappings.end()) return;
  const std::optional<uint64_t> mapped_address =
      symbolizer_.AddressOfFileOffset(state.interpreter_module, mapping->mapping.file_offset);
  Status status = Status::Ok();
  if (!mapped_address) {
    status =
        Status::NotFoundf("no load segment at file offset {:#x}", mapping->mapping.file_offset);
  } else {
    Result<profkit_python_process> layout =
        python::WalkerLayout(state.interpreter, mapping->mapping.start - *mapped_address);
    status = layout.ok() ? registry_->RegisterPythonProcess(state.pid, *layout) : layout.status();
    if (layout.ok()) state.layout = *layout;
  }
  if (!status.ok()) {
    ++counters_.registration_failures;
    spdlog::warn("process {} (CPython {}): cannot walk its Python frames: {}", state.pid,
                 state.version, status.message());
    return;
  }
  state.registered = true;
}

void PythonProcesses::BecomePythonService(ProcessTable::Process& process, const State& state) {
  process.language = "python";
  process.runtime_version = state.version;
  process.key_stale = true;
  Result<process::ServiceEnvironment> environment = proc_fs_.ReadServiceEnvironment(process.pid);
  if (!environment.ok() || environment->dd_service || environment->otel_service_name) return;
  Result<std::vector<std::string>> argv = proc_fs_.ReadCommandLine(process.pid);
  if (!argv.ok()) return;
  if (std::optional<std::string> script = process::PythonScriptName(*argv)) {
    process.identity = process::ResolveServiceIdentity(*environment, *script, default_env_);
  }
}

void PythonProcesses::OnImageGone(uint32_t pid) {
  reported_.erase(pid);
  if (states_.contains(pid)) spdlog::debug("CPython process {}: image gone", pid);
  auto it = states_.find(pid);
  if (it == states_.end()) return;
  if (it->second.registered && registry_ != nullptr) registry_->UnregisterPythonProcess(pid);
  const python::CodeCacheCounters& c = it->second.code_cache->counters();
  retired_code_counters_.reads += c.reads;
  retired_code_counters_.read_failures += c.read_failures;
  retired_code_counters_.checksum_mismatches += c.checksum_mismatches;
  states_.erase(it);
}

PythonProcesses::State& PythonProcesses::AddState(uint32_t pid, uint32_t interpreter_module,
                                                  const python::InterpreterModule& interpreter) {
  State& state = states_[pid];
  state.pid = pid;
  state.interpreter_module = interpreter_module;
  state.interpreter = interpreter;
  state.version = VersionString(interpreter.offsets.version);
  state.code_cache = std::make_unique<python::CodeObjectCache>(
      interpreter.offsets, interpreter.line_table_format,
      std::make_unique<python::BudgetedMemory>(memory_(pid), read_budget_));
  return state;
}

void PythonProcesses::OnForked(uint32_t parent, uint32_t child) {
  auto it = states_.find(parent);
  if (it == states_.end() || states_.contains(child)) return;
  const State& from = it->second;
  spdlog::debug("process {} is a fork of CPython process {}", child, parent);
  State& state = AddState(child, from.interpreter_module, from.interpreter);
  if (!from.registered || registry_ == nullptr) return;
  Status status = registry_->RegisterPythonProcess(child, from.layout);
  if (!status.ok()) {
    ++counters_.registration_failures;
    spdlog::warn("process {} (fork of CPython process {}): {}", child, parent, status.message());
    return;
  }
  state.layout = from.layout;
  state.registered = true;
}

PythonProcesses::State* PythonProcesses::Find(uint32_t pid) {
  auto it = states_.find(pid);
  return it == states_.end() ? nullptr : &it->second;
}

profile::Frame PythonProcesses::Resolve(State& state, const sampling::PythonFrameRecord& record) {
  const python::ResolvedPythonFrame resolved = state.code_cache->Resolve(
      record.code_object, record.instruction, record.checksum, functions_);
  return profile::Frame{.kind = profile::FrameKind::kPython,
                        .module_id = resolved.function_id,
                        .address = static_cast<uint64_t>(std::max(resolved.line, 0))};
}

NativeFrameRole PythonProcesses::RoleOf(const State& state, const profile::Frame& frame) const {
  if (frame.kind != profile::FrameKind::kNative || frame.module_id != state.interpreter_module) {
    return NativeFrameRole::kOther;
  }
  // Return addresses point after the call; the call itself is what lies in the function.
  const uint64_t offset =
      frame.is_return_address && frame.address > 0 ? frame.address - 1 : frame.address;
  const std::optional<uint64_t> address = symbolizer_.AddressOfFileOffset(frame.module_id, offset);
  if (address) {
    for (const auto& [start, end] : state.interpreter.eval_loop_ranges) {
      if (*address >= start && *address < end) return NativeFrameRole::kEvalLoop;
    }
  }
  return NativeFrameRole::kInterpreter;
}

PythonCounters PythonProcesses::counters() const {
  PythonCounters c = counters_;
  c.code_reads = retired_code_counters_.reads;
  c.code_read_failures = retired_code_counters_.read_failures;
  c.checksum_mismatches = retired_code_counters_.checksum_mismatches;
  for (const auto& [pid, state] : states_) {
    if (state.registered) ++c.processes;
    const python::CodeCacheCounters& s = state.code_cache->counters();
    c.code_reads += s.reads;
    c.code_read_failures += s.read_failures;
    c.checksum_mismatches += s.checksum_mismatches;
  }
  c.functions = functions_.size();
  c.function_table_full = functions_.overflows();
  c.memory_bytes_read = read_budget_.bytes_read();
  c.memory_budget_refusals = read_budget_.refusals();
  return c;
}

}  // namespace profkit::pipeline
