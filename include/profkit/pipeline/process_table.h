// What profkit knows about each process on the host: its service identity, its executable mappings
// (resolved to symbolizer modules), its parent, and whether it has exited.
//
// Entries are created lazily, from exec/fork events or from the first sample of a process that
// started before the agent, and read /proc only when a sample needs them. Samples are aggregated
// in numbered intervals (EndInterval); an exited process, and a module no process references any
// more, is kept until the flush of the interval it exited (was let go) in has symbolized its
// samples: CollectExited(interval) after that flush releases them, so churn of short-lived
// processes leaks nothing while a flush on another thread still finds their modules.
//
// Not thread-safe: the reader thread owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "profkit/process/cgroup.h"
#include "profkit/process/proc_fs.h"
#include "profkit/process/proc_parsers.h"
#include "profkit/profile/frame.h"
#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::pipeline {

struct ProcessTableOptions {
  // Upper bound on tracked processes, exited ones included until the next flush; beyond it new
  // processes are not tracked (counted in table_full) and their samples are dropped.
  size_t max_processes = 65536;
  // A sample whose IP is in no known mapping triggers a re-read of /proc/PID/maps (new dlopen,
  // JIT), at most this often per process, unless the previous re-read found new code (a program
  // loading one library after another).
  int64_t maps_refresh_interval_ns = 250'000'000;
  std::string default_env;
};

struct ProcessTableCounters {
  uint64_t processes = 0;  // currently tracked
  uint64_t proc_read_failures = 0;
  uint64_t maps_refreshes = 0;
  uint64_t unmapped_frames = 0;  // user IPs in no file-backed mapping
  uint64_t table_full = 0;
  uint64_t collected = 0;             // exited processes released
  uint64_t cgroup_read_failures = 0;  // /proc/PID/cgroup unreadable: the process counts as host
};

class ProcessTable {
 public:
  struct Process;
  // Told about each process's life, for state kept elsewhere per process (CPython unwinding).
  class Observer {
   public:
    virtual ~Observer() = default;
    // The process's mappings were just (re)read from /proc.
    virtual void OnMappingsLoaded(Process& process) = 0;
    // The process's program image is gone: it exec'd a new one, or it was released after exit.
    virtual void OnImageGone(uint32_t pid) = 0;
    // `child` is a fork of `parent`: the same image and mappings until it execs.
    virtual void OnForked(uint32_t parent, uint32_t child) = 0;
  };

  struct Mapping {
    process::MemoryMapping mapping;
    uint32_t module_id = profile::kUnknownModule;  // interned on first use
    bool module_resolved = false;
    bool sampled = false;  // a sample's frame was resolved in it (NativeUnwinding builds its table)
  };
  struct Process {
    uint32_t pid = 0;
    uint32_t ppid = 0;
    std::string comm;
    bool exited = false;
    uint64_t exited_in_interval = 0;  // when exited
    // The last interval a sample's frame was resolved through this process's mappings: its
    // modules stay until that interval is flushed, even when the process exited before.
    uint64_t resolved_in_interval = 0;
    bool details_loaded = false;  // identity and mappings read from /proc
    bool new_program = false;     // exec'd while tracked, details not read since
    std::string executable_path;  // as /proc/PID/exe shows it; "" for kernel threads
    process::ServiceIdentity identity;
    // The container the process runs in, from /proc/PID/cgroup when its details were read (a
    // container's processes are in its cgroup before they exec); nullopt on the host.
    std::optional<process::ContainerIdentity> container;
    // The aggregation key (SamplePipeline), kept until the identity changes (key_stale) or the
    // container metadata does (key_generation).
    profile::ServiceKey key;
    bool key_stale = true;
    uint64_t key_generation = 0;
    // DataKit language value and runtime version of the service; native unless a runtime (CPython)
    // was recognised in the process.
    std::string language = "cpp";
    std::string runtime_version;
    std::vector<Mapping> mappings;  // executable mappings sorted by start
    size_t sampled_mappings = 0;    // mappings that became `sampled` (grows only)
    std::vector<uint32_t> modules;  // distinct symbolizer modules this process has referenced
    int64_t maps_loaded_at_ns = 0;
  };

  ProcessTable(const process::ProcFs& proc_fs, symbolize::NativeSymbolizer& symbolizer,
               ProcessTableOptions options);
  ~ProcessTable();
  ProcessTable(const ProcessTable&) = delete;
  ProcessTable& operator=(const ProcessTable&) = delete;

  // At most one; null to detach. It must outlive the table or be detached first.
  void SetObserver(Observer* observer) { observer_ = observer; }

  void OnExec(uint32_t pid, uint32_t ppid, std::string comm);
  void OnFork(uint32_t pid, uint32_t ppid, std::string comm);
  void OnExit(uint32_t pid);

  // The process with its identity and mappings loaded; nullptr when /proc has nothing for it and
  // no event announced it (the process is gone).
  Process* Get(uint32_t pid);
  // Parent pid from events or /proc; 0 when unknown.
  uint32_t ParentOf(uint32_t pid);

  // Where a user IP comes from: the interrupted registers hold code for sure, and so does a return
  // address the native unwinder found through its callee's CFI; a frame-pointer walk through code
  // without frame pointers also yields data.
  enum class IpSource { kRegisters, kUnwound, kStackWalk };
  // Translates a user-space IP into a lifetime-independent frame. Only an IP from the registers or
  // the unwinder that is in no known mapping triggers a re-read of the mappings (a garbage return
  // address would otherwise spend the re-read while the dynamic loader is still mapping libraries,
  // and a Python program's interpreter library would stay unknown for a refresh interval). The
  // unwinder's count: a program whose leaf stays in its own code after start-up (a loop in main)
  // shows its libc callers only as return addresses.
  profile::Frame ResolveUserFrame(Process& process, uint64_t ip, bool is_return_address,
                                  IpSource source);

  // Ends the current aggregation interval and returns its number (1, 2, ...): the exits and
  // module releases seen from now on belong to the next one.
  uint64_t EndInterval();
  // Releases the processes that exited, and the modules let go, in intervals up to `interval`;
  // call once the flush of `interval` has symbolized its samples.
  void CollectExited(uint64_t interval);

  ProcessTableCounters counters() const;

 private:
  Process& Insert(uint32_t pid);
  void LoadDetails(Process& process);
  void LoadMappings(Process& process, int64_t now_ns);
  // Drops the process's module references; modules nobody references any more are released by
  // the CollectExited of `interval`, because samples taken before still point at them.
  void DropModuleReferences(Process& process, uint64_t interval);
  static Mapping* FindMapping(Process& process, uint64_t ip);
  // Interns the mapping's file with the symbolizer (once) and references it for this process.
  // /proc/PID/root without a trailing slash.
  std::string ProcessRoot(uint32_t pid) const;
  void ResolveModule(Process& process, Mapping& mapping);

  const process::ProcFs& proc_fs_;
  symbolize::NativeSymbolizer& symbolizer_;
  Observer* observer_ = nullptr;
  const ProcessTableOptions options_;
  std::unordered_map<uint32_t, Process> processes_;
  // How many tracked processes map each module: a module is released when none does.
  std::unordered_map<uint32_t, uint32_t> module_refs_;
  struct LetGoModule {
    uint32_t id;
    uint64_t interval;
  };
  std::vector<LetGoModule> unreferenced_modules_;
  uint64_t current_interval_ = 1;
  ProcessTableCounters counters_;
};

}  // namespace profkit::pipeline
