// Feeds the native unwinder's tables (unwind/unwind_table_store.h) from the process table: a
// process's executable file mappings when they are read, its removal when its image is gone.
// Chained in front of another observer (PythonProcesses), which it forwards every event to.
#pragma once

#include <cstdint>
#include <memory>

#include "profkit/pipeline/process_table.h"
#include "profkit/process/proc_fs.h"
#include "profkit/unwind/unwind_maps.h"
#include "profkit/unwind/unwind_table_store.h"

namespace profkit::pipeline {

class NativeUnwinding final : public ProcessTable::Observer {
 public:
  NativeUnwinding(const process::ProcFs& proc_fs, unwind::UnwindMaps& maps,
                  ProcessTable::Observer* next);

  void OnMappingsLoaded(ProcessTable::Process& process) override;
  void OnImageGone(uint32_t pid) override;
  void OnForked(uint32_t parent, uint32_t child) override;

  unwind::UnwindStoreCounters counters() const { return store_.counters(); }
  unwind::UnwindTableStore& store() { return store_; }

 private:
  const process::ProcFs& proc_fs_;
  ProcessTable::Observer* next_;
  unwind::UnwindTableStore store_;
};

}  // namespace profkit::pipeline
