// CPython interpreter structure offsets (x86-64, glibc, release builds) for walking Python stacks
// from outside the process: built-in tables for 3.8–3.12, and a parser of CPython's own
// `_Py_DebugOffsets` for 3.13–3.15 (one layout of the table itself per minor version). What the
// table lacks and how it is derived per version: docs/cpython-314-315.md.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit::python {

// major.minor are always known; micro only when the source carries it (not from a file name).
struct PythonVersion {
  int major = 0;
  int minor = 0;
  std::optional<int> micro;

  bool operator==(const PythonVersion&) const = default;
};

// Marks a field that does not exist in this interpreter version.
inline constexpr uint32_t kNoOffset = UINT32_MAX;

// How the walker finds the sampled thread's `PyThreadState`; both survive a GIL release, unlike
// the attached-thread pointer `_Py_tss_tstate` (docs/cpython-314-315.md, "Thread state").
enum class ThreadStateLookup {
  // ≤ 3.14: the gilstate TSS key `_PyRuntime.autoTSSkey` selects a glibc thread-specific slot.
  kGilstateTss,
  // 3.15+: the thread-local variable `_Py_tss_gilstate`, located by decoding the machine code of
  // `PyGILState_GetThisThreadState` in the interpreter binary.
  kGilstateThreadLocal,
};

// Byte offsets of fields inside their struct (sizes are sizeof of the struct). Each group names
// who reads it: BPF walks thread state → frames and emits (code object, instruction index,
// checksum); userspace reads code objects and their strings/tables to symbolize.
struct CPythonOffsets {
  PythonVersion version;
  ThreadStateLookup thread_state_lookup = ThreadStateLookup::kGilstateTss;

  // `_PyRuntimeState` (the `_PyRuntime` symbol).
  struct Runtime {
    // First `PyInterpreterState*`: userspace walks interpreters → threads to map native thread ids
    // to thread states (and to find them when the TSS key is not yet usable).
    uint32_t interpreters_head = kNoOffset;
    // `Py_tss_t autoTSSkey` (gilstate's ≤ 3.11): `_is_initialized` and `_key`. The key selects the
    // pthread TSS slot holding this OS thread's `PyThreadState*`, which survives GIL release
    // (docs/cpython-internals.md §1.1) — the only way to get Python frames of GIL-released native
    // work.
    uint32_t tss_is_initialized = kNoOffset;
    uint32_t tss_key = kNoOffset;
  } runtime;

  // `PyInterpreterState`.
  struct Interpreter {
    // `tstate_head` (≤ 3.10) / `threads.head` (3.11+): first thread state of the interpreter.
    uint32_t threads_head = kNoOffset;
  } interpreter;

  // `PyThreadState`.
  struct ThreadState {
    uint32_t next = kNoOffset;    // thread list walk
    uint32_t interp = kNoOffset;  // sanity check: a thread state points back at its interpreter
    uint32_t frame = kNoOffset;   // ≤ 3.10: innermost `PyFrameObject*`
    uint32_t cframe = kNoOffset;  // 3.11, 3.12: `_PyCFrame*` holding the innermost frame
    uint32_t current_frame = kNoOffset;  // 3.13+: innermost `_PyInterpreterFrame*`
    // 3.15+: the sentinel frame every chain ends at; the walk stops there.
    uint32_t base_frame = kNoOffset;
    uint32_t thread_id = kNoOffset;  // pthread_t: matches a TSS slot's owner thread
    // 3.11+: kernel TID, validates a thread state against the sampled TID.
    uint32_t native_thread_id = kNoOffset;
    uint32_t size = kNoOffset;  // lets BPF read the fields it needs in one copy
  } thread_state;

  // `_PyCFrame` (3.11, 3.12 only): `current_frame` → innermost `_PyInterpreterFrame*`.
  struct CFrame {
    uint32_t current_frame = kNoOffset;
  } cframe;

  // `PyFrameObject` as the frame-stack element (≤ 3.10).
  struct FrameObject {
    uint32_t f_back = kNoOffset;
    uint32_t f_code = kNoOffset;
    // int: last started instruction, in bytes (3.8, 3.9) or in code units (3.10);
    // docs/cpython-internals.md §4.
    uint32_t f_lasti = kNoOffset;
  } frame_object;

  // `_PyInterpreterFrame` (3.11+).
  struct InterpreterFrame {
    uint32_t code = kNoOffset;  // `f_code` (3.11, 3.12) / `f_executable` (3.13+, may be None)
    // 3.14+: `f_executable` is a `_PyStackRef` whose low bits are tags (Py_TAG_BITS); the code
    // object pointer is the value with these bits cleared. 0 before 3.14.
    uint32_t code_tag_bits = 0;
    uint32_t previous = kNoOffset;  // next outer frame
    // `prev_instr` (3.11, 3.12: last executed unit) / `instr_ptr` (3.13+: current unit); the
    // instruction index is (ptr − (code + code_object.code_adaptive)) / 2.
    uint32_t instr_ptr = kNoOffset;
    // char: values ≥ 3 mark frames that are no Python function: FRAME_OWNED_BY_CSTACK (3) in
    // 3.12/3.13, FRAME_OWNED_BY_INTERPRETER (3) and FRAME_OWNED_BY_CSTACK (4) in 3.14, and
    // FRAME_OWNED_BY_INTERPRETER (3) in 3.15.
    uint32_t owner = kNoOffset;
    uint32_t is_entry = kNoOffset;  // bool, 3.11 only: last Python frame of this C-level call
    uint32_t size = kNoOffset;
  } interpreter_frame;

  // `PyCodeObject`.
  struct CodeObject {
    // argcount, kwonlyargcount, flags, firstlineno: ints forming the checksum BPF emits with a
    // code object address, so userspace notices a freed-and-reused address.
    uint32_t argcount = kNoOffset;
    uint32_t kwonlyargcount = kNoOffset;
    uint32_t flags = kNoOffset;
    uint32_t firstlineno = kNoOffset;    // base line of every line-table walk
    uint32_t filename = kNoOffset;       // str
    uint32_t name = kNoOffset;           // str
    uint32_t qualname = kNoOffset;       // str, 3.11+ (preferred over name)
    uint32_t lnotab = kNoOffset;         // bytes, ≤ 3.9 line table
    uint32_t linetable = kNoOffset;      // bytes, 3.10+ line/location table
    uint32_t code = kNoOffset;           // bytes `co_code` (≤ 3.10): bounds f_lasti
    uint32_t code_adaptive = kNoOffset;  // 3.11+: start of the inline bytecode
    uint32_t size = kNoOffset;           // userspace reads the fixed part in one copy
  } code_object;

  // `PyObject` header.
  struct Object {
    uint32_t ob_type = kNoOffset;  // checks that a pointer really is a code object / str / bytes
  } object;

  // `PyASCIIObject` / `PyCompactUnicodeObject` (co_filename, co_name, co_qualname).
  struct Unicode {
    uint32_t length = kNoOffset;        // Py_ssize_t, in code points
    uint32_t state = kNoOffset;         // bit field: interned:2, kind:3, compact:1, ascii:1
    uint32_t ascii_data = kNoOffset;    // sizeof(PyASCIIObject): data of compact ASCII strings
    uint32_t compact_data = kNoOffset;  // sizeof(PyCompactUnicodeObject): other compact strings
  } unicode;

  // `PyBytesObject` (line tables, co_code).
  struct Bytes {
    uint32_t ob_size = kNoOffset;
    uint32_t ob_sval = kNoOffset;
  } bytes;
};

// Built-in, header-verified tables for 3.8–3.12; nullopt for any other version (3.13+ comes from
// ParseDebugOffsets). `version.micro` of the result is unset.
std::optional<CPythonOffsets> BuiltinOffsets(int major, int minor);

// Parses the `_Py_DebugOffsets` at the start of a 3.13+ target's `_PyRuntime` (bytes as read from
// the target; may be longer than the struct). Validates the "xdebugpy" cookie, the version
// (PY_VERSION_HEX) against the layouts this parser knows (3.13, 3.14, 3.15), rejects free-threaded
// builds, and bounds every offset and size; an error names the failed check. Fields
// `_Py_DebugOffsets` does not carry (TSS key, kwonlyargcount, flags, compact-unicode size before
// 3.15, the stack-reference tag bits) come from the headers of that minor version
// (docs/cpython-314-315.md). The result's version includes micro.
Result<CPythonOffsets> ParseDebugOffsets(std::span<const uint8_t> bytes);

// The oldest and newest minor versions ParseDebugOffsets knows the table layout of.
inline constexpr int kFirstDebugOffsetsMinor = 13;
inline constexpr int kLastDebugOffsetsMinor = 15;

// Decodes PY_VERSION_HEX (major<<24 | minor<<16 | micro<<8 | level<<4 | serial).
Result<PythonVersion> ParsePyVersionHex(uint32_t hex);
// The 4 bytes of the `Py_Version` symbol (3.11+), as stored in the target (little-endian).
Result<PythonVersion> ParsePyVersionBytes(std::span<const uint8_t> bytes);
// A PY_VERSION string: "3.11.7", "3.13.0rc1", "3.12.1+".
Result<PythonVersion> ParsePyVersionString(std::string_view text);
// major.minor from an interpreter file name: "libpython3.11.so.1.0", "python3.8", "python3.12d",
// also accepted with a directory ("/usr/bin/python3.11").
Result<PythonVersion> ParsePythonFileName(std::string_view path);

}  // namespace profkit::python
