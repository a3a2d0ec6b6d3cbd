// Feeds the native unwinder's tables (unwind/unwind_table_store.h) from the process table: a
// process's executable file mappings at its first sample (so a `record` session builds tables only
// for its targets, and a host's idle processes cost nothing), again when a sample first reaches
// one of them (only those get tables built, see ExecMapping::sampled) and whenever they are
// re-read after that (dlopen, exec), its removal when its image is gone. Chained in front of
// another observer (PythonProcesses), which it forwards every event to. Reader thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "profkit/pipeline/process_table.h"
#include "profkit/process/proc_fs.h"
#include "profkit/unwind/unwind_maps.h"
#include "profkit/unwind/unwind_table_store.h"

namespace profkit::pipeline {

class NativeUnwinding final : public ProcessTable::Observer {
 public:
  // `max_section_bytes`: the largest CFI section read ([symbols] max_section_mb).
  NativeUnwinding(const process::ProcFs& proc_fs, unwind::UnwindMaps& maps,
                  ProcessTable::Observer* next, uint64_t max_section_bytes);

  void OnMappingsLoaded(ProcessTable::Process& process) override;
  void OnImageGone(uint32_t pid) override;
  void OnForked(uint32_t parent, uint32_t child) override;
  // A sample of `process` was kept and its frames resolved: the tables of the mappings they fell
  // in are requested if they were not yet (and those other processes built for the rest).
  void OnSample(ProcessTable::Process& process);

  unwind::UnwindStoreCounters counters() const { return store_.counters(); }
  unwind::UnwindTableStore& store() { return store_; }

 private:
  const process::ProcFs& proc_fs_;
  ProcessTable::Observer* next_;
  unwind::UnwindTableStore store_;
  // Pids whose mappings were handed to the store, with their sampled_mappings then: a mapping
  // sampled since is handed again, to get its table built.
  std::unordered_map<uint32_t, size_t> requested_;
  void Request(ProcessTable::Process& process);
};

}  // namespace profkit::pipeline
