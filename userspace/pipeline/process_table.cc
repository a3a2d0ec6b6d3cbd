#include "profkit/pipeline/process_table.h"

#include <algorithm>
#include <unordered_set>

#include "profkit/common/clock.h"
#include "profkit/common/log.h"

namespace profkit::pipeline {
namespace {

constexpr uint32_t kKthreaddPid = 2;
constexpr char kKernelService[] = "kernel";

// Mappings that have no file to symbolize from.
bool IsFileBacked(const process::MemoryMapping& m) {
  return m.inode != 0 && !m.path.empty() && m.path.front() == '/';
}

}  // namespace

ProcessTable::ProcessTable(const process::ProcFs& proc_fs, symbolize::NativeSymbolizer& symbolizer,
                           ProcessTableOptions options)
    : proc_fs_(proc_fs), symbolizer_(symbolizer), options_(std::move(options)) {}

ProcessTable::~ProcessTable() = default;

ProcessTable::Process& ProcessTable::Insert(uint32_t pid) {
  auto [it, inserted] = processes_.try_emplace(pid);
  if (inserted) it->second.pid = pid;
  return it->second;
}

void ProcessTable::OnExec(uint32_t pid, uint32_t ppid, std::string comm) {
  if (processes_.size() >= options_.max_processes && !processes_.contains(pid)) {
    ++counters_.table_full;
    return;
  }
  Process& process = Insert(pid);
  // A new program image: everything read from the old one (environment, mappings) is stale.
  if (observer_ != nullptr) observer_->OnImageGone(pid);
  DropModuleReferences(process, current_interval_);
  process.mappings.clear();
  process.sampled_mappings = 0;
  process.details_loaded = false;
  process.language = "cpp";
  process.runtime_version.clear();
  process.key_stale = true;
  process.exited = false;
  process.ppid = ppid;
  process.comm = std::move(comm);

  // Its /proc state is read at its first sample, not now: most programs a build or a shell
  // script execs run for a few milliseconds and are never sampled, and reading /proc for each of
  // them (executable, environment, mappings, cgroup) was most of the reader's time under an exec
  // storm. The BPF side wakes the reader at once for a new program's first samples
  // (bpf/process.bpf.c, new_programs), so a program sampled shortly before it exits is read while
  // it still exists; and at its first sample the dynamic loader has mapped its libraries, which
  // the read at exec missed.
  process.new_program = true;
}

void ProcessTable::OnFork(uint32_t pid, uint32_t ppid, std::string comm) {
  if (processes_.size() >= options_.max_processes && !processes_.contains(pid)) {
    ++counters_.table_full;
    return;
  }
  const bool known = processes_.contains(pid);
  Process& process = Insert(pid);
  process.ppid = ppid;
  // The kernel reports a fork after waking the child, which may exec (or exit) before the report
  // is written: a child already known has its own image, and must not get its parent's.
  if (known) return;
  process.comm = std::move(comm);
  if (observer_ != nullptr) observer_->OnForked(ppid, pid);
}

void ProcessTable::OnExit(uint32_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) return;
  it->second.exited = true;
  it->second.exited_in_interval = current_interval_;
}

ProcessTable::Process* ProcessTable::Get(uint32_t pid) {
  auto it = processes_.find(pid);
  if (it == processes_.end()) {
    if (processes_.size() >= options_.max_processes) {
      ++counters_.table_full;
      return nullptr;
    }
    // A process that started before the agent (or whose events were lost): it must exist in /proc.
    Result<process::ProcessStat> stat = proc_fs_.ReadStat(pid);
    if (!stat.ok()) {
      ++counters_.proc_read_failures;
      return nullptr;
    }
    Process& process = Insert(pid);
    process.ppid = stat->ppid;
    process.comm = stat->comm;
    it = processes_.find(pid);
  }
  Process& process = it->second;
  if (!process.details_loaded) LoadDetails(process);
  return &process;
}

uint32_t ProcessTable::ParentOf(uint32_t pid) {
  auto it = processes_.find(pid);
  if (it != processes_.end() && it->second.ppid != 0) return it->second.ppid;
  Result<process::ProcessStat> stat = proc_fs_.ReadStat(pid);
  return stat.ok() ? stat->ppid : 0;
}

void ProcessTable::LoadDetails(Process& process) {
  process.details_loaded = true;
  Result<std::string> exe = proc_fs_.ReadExecutablePath(process.pid);
  // Kernel threads (kthreadd and its children) have no executable; one "kernel" service for all of
  // them beats a profile per kworker.
  const bool kernel_thread =
      !exe.ok() && (process.pid == kKthreaddPid || process.ppid == kKthreaddPid);
  const std::string executable_name =
      kernel_thread ? std::string(kKernelService)
                    : process::ExecutableName(
                          exe.ok() ? std::string_view(*exe) : std::string_view(), process.comm);
  Result<process::ServiceEnvironment> environment = proc_fs_.ReadServiceEnvironment(process.pid);
  if (!environment.ok()) ++counters_.proc_read_failures;
  process.executable_path = exe.ok() ? *exe : std::string();
  process.identity = process::ResolveServiceIdentity(
      environment.ok() ? *environment : process::ServiceEnvironment{}, executable_name,
      options_.default_env);
  // The mappings first: a short-lived process may be gone a moment later, and its frames
  // matter more than its container.
  LoadMappings(process, MonotonicNanos());
  if (process.new_program) {
    // A program sampled early (in the dynamic loader) maps more libraries just after: the first
    // IP outside the mappings read now must trigger a re-read at once, not after the interval.
    process.new_program = false;
    process.maps_loaded_at_ns = 0;
  }
  Result<std::optional<process::ContainerIdentity>> container = proc_fs_.ReadContainer(process.pid);
  if (!container.ok() && !kernel_thread) ++counters_.cgroup_read_failures;
  process.container = container.ok() ? *container : std::nullopt;
  process.key_stale = true;
}

void ProcessTable::LoadMappings(Process& process, int64_t now_ns) {
  process.maps_loaded_at_ns = now_ns;
  Result<std::vector<process::MemoryMapping>> maps = proc_fs_.ReadMaps(process.pid);
  if (!maps.ok()) {
    ++counters_.proc_read_failures;
    return;
  }
  // Keep the module ids already interned for mappings that are still there.
  std::vector<Mapping> previous = std::move(process.mappings);
  process.mappings.clear();
  for (process::MemoryMapping& m : *maps) {
    if (!m.executable) continue;
    Mapping entry{.mapping = std::move(m)};
    for (const Mapping& old : previous) {
      if (old.mapping.start == entry.mapping.start && old.mapping.inode == entry.mapping.inode &&
          old.mapping.dev == entry.mapping.dev) {
        entry.module_id = old.module_id;
        entry.module_resolved = old.module_resolved;
        entry.sampled = old.sampled;
        break;
      }
    }
    process.mappings.push_back(std::move(entry));
  }
  std::sort(process.mappings.begin(), process.mappings.end(),
            [](const Mapping& a, const Mapping& b) { return a.mapping.start < b.mapping.start; });
  // Opened now, through this process's /proc entries, while they exist: a process that exits
  // before its samples are symbolized takes its map_files and root with it.
  for (Mapping& mapping : process.mappings) ResolveModule(process, mapping);
  if (observer_ != nullptr) observer_->OnMappingsLoaded(process);
}

ProcessTable::Mapping* ProcessTable::FindMapping(Process& process, uint64_t ip) {
  auto it =
      std::upper_bound(process.mappings.begin(), process.mappings.end(), ip,
                       [](uint64_t value, const Mapping& m) { return value < m.mapping.start; });
  if (it == process.mappings.begin()) return nullptr;
  --it;
  return ip < it->mapping.end ? &*it : nullptr;
}

profile::Frame ProcessTable::ResolveUserFrame(Process& process, uint64_t ip, bool is_return_address,
                                              IpSource source) {
  profile::Frame frame{.kind = profile::FrameKind::kNative,
                       .is_return_address = is_return_address,
                       .module_id = profile::kUnknownModule,
                       .address = ip};
  process.resolved_in_interval = current_interval_;
  Mapping* found = FindMapping(process, ip);
  if (found == nullptr && !process.exited && source != IpSource::kStackWalk) {
    const int64_t now = MonotonicNanos();
    if (now - process.maps_loaded_at_ns >= options_.maps_refresh_interval_ns) {
      ++counters_.maps_refreshes;
      LoadMappings(process, now);
      found = FindMapping(process, ip);
      // The re-read found new code: the process is loading libraries (Python importing numpy
      // opens dozens in a row), and each one's IPs stay unknown and its frames unwound by frame
      // pointer until the next re-read, so that one may come at once. Only a re-read that finds
      // nothing (a JIT's anonymous code, a garbage address) waits for the interval: at most one
      // re-read per new mapping.
      if (found != nullptr) process.maps_loaded_at_ns = 0;
    }
  }
  if (found == nullptr || !IsFileBacked(found->mapping)) {
    ++counters_.unmapped_frames;
    return frame;
  }
  Mapping& mapping = *found;
  if (!mapping.sampled) {
    mapping.sampled = true;
    ++process.sampled_mappings;
  }
  ResolveModule(process, mapping);
  if (mapping.module_id == profile::kUnknownModule) return frame;
  frame.module_id = mapping.module_id;
  frame.address = ip - mapping.mapping.start + mapping.mapping.file_offset;
  return frame;
}

std::string ProcessTable::ProcessRoot(uint32_t pid) const {
  // Separate debug files are looked up below the process's root (its container's files) first.
  std::string root = proc_fs_.RootPath(pid, "/");
  while (root.ends_with('/')) root.pop_back();
  return root;
}

void ProcessTable::ResolveModule(Process& process, Mapping& mapping) {
  if (mapping.module_resolved || !IsFileBacked(mapping.mapping)) return;
  mapping.module_resolved = true;
  const process::MemoryMapping& m = mapping.mapping;
  Result<uint32_t> id = symbolizer_.AddModule(
      symbolize::ModuleKey{.dev = m.dev, .inode = m.inode}, m.path,
      {proc_fs_.MapFilesPath(process.pid, m), proc_fs_.RootPath(process.pid, m.path)},
      ProcessRoot(process.pid));
  if (!id.ok()) return;
  mapping.module_id = *id;
  if (std::find(process.modules.begin(), process.modules.end(), *id) == process.modules.end()) {
    process.modules.push_back(*id);
    ++module_refs_[*id];
  }
}

void ProcessTable::DropModuleReferences(Process& process, uint64_t interval) {
  for (uint32_t id : process.modules) {
    auto it = module_refs_.find(id);
    if (it != module_refs_.end() && --it->second == 0) {
      module_refs_.erase(it);
      unreferenced_modules_.push_back({.id = id, .interval = interval});
    }
  }
  process.modules.clear();
}

uint64_t ProcessTable::EndInterval() { return current_interval_++; }

void ProcessTable::CollectExited(uint64_t interval) {
  for (auto it = processes_.begin(); it != processes_.end();) {
    Process& process = it->second;
    if (!process.exited || process.exited_in_interval > interval) {
      ++it;
      continue;
    }
    if (observer_ != nullptr) observer_->OnImageGone(process.pid);
    // Its modules may go in this same collection, unless samples of a later interval (taken
    // just before the exit, read after it) still point at them.
    DropModuleReferences(process, std::max(interval, process.resolved_in_interval));
    it = processes_.erase(it);
    ++counters_.collected;
  }
  std::unordered_set<uint32_t> let_go_later;
  for (const LetGoModule& module : unreferenced_modules_) {
    if (module.interval > interval) let_go_later.insert(module.id);
  }
  std::erase_if(unreferenced_modules_, [&](const LetGoModule& module) {
    if (module.interval > interval) return false;
    // A module can be referenced again by a process that mapped it after the last one let go;
    // one let go again since is released with that later interval.
    if (!module_refs_.contains(module.id) && !let_go_later.contains(module.id)) {
      symbolizer_.ReleaseModule(module.id);
    }
    return true;
  });
}

ProcessTableCounters ProcessTable::counters() const {
  ProcessTableCounters c = counters_;
  c.processes = processes_.size();
  return c;
}

}  // namespace profkit::pipeline
