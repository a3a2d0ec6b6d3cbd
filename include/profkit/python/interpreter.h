// Recognising a CPython interpreter in an object file (the python3.X executable, libpython3.X.so,
// or any embedder linking it statically) by its symbols, not its file name, and deriving how the
// BPF walker reads its frames.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "profkit/bpf_abi.h"
#include "profkit/common/status.h"
#include "profkit/python/line_table.h"
#include "profkit/python/offsets.h"
#include "profkit/python/thread_local.h"
#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::python {

// What one interpreter object file tells about itself. Addresses are ELF virtual addresses; add
// the module's load bias for a process's address.
struct InterpreterModule {
  CPythonOffsets offsets;  // offsets.version has micro when the file carries it
  LineTableFormat line_table_format = LineTableFormat::kLocationTable;
  uint64_t runtime_address = 0;          // _PyRuntime
  std::optional<uint64_t> none_address;  // _Py_NoneStruct, 3.13+
  // ThreadStateLookup::kGilstateThreadLocal (3.15+): where `_Py_tss_gilstate` is.
  std::optional<ThreadLocalLocation> gilstate_location;
  // _PyEval_EvalFrameDefault and its compiler-split .cold part: native frames here are the eval
  // loop, whose place in the native stack the Python frames take.
  std::vector<std::pair<uint64_t, uint64_t>> eval_loop_ranges;
};

// Outcome of looking at one module.
struct InterpreterInspection {
  // Set when the module is a supported CPython interpreter.
  std::optional<InterpreterModule> interpreter;
  // Set when the module is CPython but cannot be walked (unknown version, unreadable offsets):
  // the reason, logged once per process by the caller.
  std::string unsupported_reason;
};

// Looks for `_PyRuntime` in the module's symbols (.dynsym, then .symtab); modules without it are
// not interpreters (both fields empty), except that one defining `Py_Initialize` is an older
// CPython and reported unsupported. The version comes from `Py_Version` (3.11+), else the file
// name (libpython3.X / python3.X) with the micro from the PY_VERSION string in .rodata; offsets
// from the built-in tables (3.8–3.12) or the `_Py_DebugOffsets` at the start of `_PyRuntime`'s
// initial image in the file (3.13–3.15); for 3.15+ the thread-local gilstate's location from the
// machine code of `PyGILState_GetThisThreadState`.
Result<InterpreterInspection> InspectInterpreterModule(symbolize::NativeSymbolizer& symbolizer,
                                                       uint32_t module_id, const std::string& path);

// glibc's struct pthread (x86-64): the first block of thread-specific slots and the pointer array
// of the others (docs/cpython-internals.md §1.2).
inline constexpr uint16_t kGlibcTsdFirstBlock = 0x310;
inline constexpr uint16_t kGlibcTsdSecondLevel = 0x510;

// The walker's map entry for a process whose interpreter module is loaded with `load_bias`.
// Errors when an offset does not fit what the walker copies per frame / code object.
Result<profkit_python_process> WalkerLayout(const InterpreterModule& module, uint64_t load_bias);

}  // namespace profkit::python
