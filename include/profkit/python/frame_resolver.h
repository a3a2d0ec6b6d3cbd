// From what the BPF walker emits per Python frame (code object address, instruction index,
// checksum) to a function and a line, while the process is alive: code objects are read once per
// process and cached; functions are interned host-wide so samples of exited processes still
// symbolize at flush time and equal functions of many processes aggregate.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "profkit/python/code_object.h"
#include "profkit/python/line_table.h"
#include "profkit/python/offsets.h"
#include "profkit/python/process_memory.h"

namespace profkit::python {

struct PythonFunction {
  std::string name;  // qualified name where the version has one
  std::string filename;
  int32_t first_line = 0;

  bool operator==(const PythonFunction&) const = default;
};

// Function ids are never reused, so frames aggregated earlier stay valid. Bounded: past
// max_functions every new function maps to kUnknownFunction (counted in overflows()).
class FunctionTable {
 public:
  static constexpr uint32_t kUnknownFunction = 1;
  // About 200 bytes each; a host running many Python services has tens of thousands.
  static constexpr size_t kDefaultMaxFunctions = 1 << 20;

  explicit FunctionTable(size_t max_functions = kDefaultMaxFunctions);

  // Thread-safe: each call holds an internal mutex (the reader interns while the flush worker
  // names frames). References returned by Get stay valid for the table's life: entries are never
  // moved or removed.
  uint32_t Intern(PythonFunction function);
  // kUnknownFunction's entry for ids never handed out.
  const PythonFunction& Get(uint32_t id) const;

  size_t size() const;
  uint64_t overflows() const;

 private:
  struct Hash {
    size_t operator()(const PythonFunction& f) const noexcept;
  };
  mutable std::mutex mutex_;
  size_t max_functions_;
  std::deque<PythonFunction> functions_;  // index = id - 1; a deque keeps references stable
  std::unordered_map<PythonFunction, uint32_t, Hash> ids_;
  uint64_t overflows_ = 0;
};

struct ResolvedPythonFrame {
  uint32_t function_id = FunctionTable::kUnknownFunction;
  int32_t line = 0;
};

struct CodeCacheCounters {
  uint64_t reads = 0;                // code objects read from the process
  uint64_t read_failures = 0;        // unreadable or malformed (frame becomes unknown)
  uint64_t checksum_mismatches = 0;  // the object at that address is no longer the sampled one
};

// One process's code objects, keyed by address and validated by checksum on every hit.
class CodeObjectCache {
 public:
  // Distinct code objects a program runs stay in the low thousands; the cache restarts when full.
  static constexpr size_t kDefaultMaxEntries = 16384;

  CodeObjectCache(const CPythonOffsets& offsets, LineTableFormat format,
                  std::unique_ptr<MemoryReader> memory, size_t max_entries = kDefaultMaxEntries);

  ResolvedPythonFrame Resolve(uint64_t code_object, int32_t instruction, uint16_t checksum,
                              FunctionTable& functions);

  const CodeCacheCounters& counters() const { return counters_; }

 private:
  struct Entry {
    uint16_t checksum = 0;
    uint32_t function_id = FunctionTable::kUnknownFunction;
    CodeObject code;
    std::unordered_map<int32_t, int32_t> lines;  // instruction → line, bounded by kMaxLinesPerCode
  };

  CPythonOffsets offsets_;
  LineTableFormat format_;
  std::unique_ptr<MemoryReader> memory_;
  size_t max_entries_;
  std::unordered_map<uint64_t, Entry> entries_;
  CodeCacheCounters counters_;
};

}  // namespace profkit::python
