#include "profkit/pipeline/native_unwinding.h"

#include <utility>
#include <vector>

namespace profkit::pipeline {

NativeUnwinding::NativeUnwinding(const process::ProcFs& proc_fs, unwind::UnwindMaps& maps,
                                 ProcessTable::Observer* next, uint64_t max_section_bytes)
    : proc_fs_(proc_fs),
      next_(next),
      store_(maps, unwind::UnwindStoreOptions{.limits = unwind::UnwindTableLimits{
                                                  .max_section_bytes = max_section_bytes}}) {}

void NativeUnwinding::OnMappingsLoaded(ProcessTable::Process& process) {
  if (requested_.contains(process.pid)) Request(process);
  if (next_ != nullptr) next_->OnMappingsLoaded(process);
}

void NativeUnwinding::OnSample(ProcessTable::Process& process) {
  auto it = requested_.find(process.pid);
  if (it == requested_.end() || it->second != process.sampled_mappings) Request(process);
}

void NativeUnwinding::Request(ProcessTable::Process& process) {
  requested_[process.pid] = process.sampled_mappings;
  std::vector<unwind::ExecMapping> mappings;
  for (const ProcessTable::Mapping& m : process.mappings) {
    const process::MemoryMapping& mapping = m.mapping;
    // Anonymous code (JIT) and pseudo files ([vdso]) have no CFI to read: frame pointers.
    if (!mapping.executable || mapping.path.empty() || mapping.path.front() == '[') continue;
    mappings.push_back(unwind::ExecMapping{.start = mapping.start,
                                           .end = mapping.end,
                                           .file_offset = mapping.file_offset,
                                           .open_path = proc_fs_.MapFilesPath(process.pid, mapping),
                                           .sampled = m.sampled});
  }
  store_.SetMappings(process.pid, std::move(mappings));
}

void NativeUnwinding::OnImageGone(uint32_t pid) {
  if (requested_.erase(pid) != 0) store_.RemoveProcess(pid);
  if (next_ != nullptr) next_->OnImageGone(pid);
}

void NativeUnwinding::OnForked(uint32_t parent, uint32_t child) {
  // The child is set up when its own mappings are read, at its first sample.
  if (next_ != nullptr) next_->OnForked(parent, child);
}

}  // namespace profkit::pipeline
