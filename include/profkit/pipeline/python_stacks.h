// Merging a sample's native user frames with its CPython frames into one stack.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "profkit/profile/frame.h"

namespace profkit::pipeline {

// Where a native user frame's instruction lies, for a Python process.
enum class NativeFrameRole : uint8_t {
  kOther,        // outside the interpreter: a C extension, libc, zlib...
  kInterpreter,  // the interpreter's code, but not its eval loop
  kEvalLoop,     // _PyEval_EvalFrameDefault: one invocation runs one group of Python frames
};

struct PythonStackFrame {
  profile::Frame frame;
  bool entry = false;  // the outermost Python frame of its eval-loop invocation
};

// Appends to `out` the user part of the merged stack, innermost first:
//  - when the native stack holds exactly one eval-loop frame per group of Python frames (a
//    frame-pointer walk that went through the interpreter), each eval-loop frame is replaced by
//    its group, so C frames between Python frames stay where they ran;
//  - otherwise (interpreters built without frame pointers, where the native walk stops or goes
//    astray inside the interpreter) the native frames above the interpreter — the sampled
//    instruction always, then callers outside the interpreter up to the first unmapped one — and
//    then every Python frame.
// Native frames below the outermost Python frame (main, Py_RunMain, _start) are dropped, so a
// complete stack's root is <module>. `roles` has one entry per native frame.
void MergePythonStack(std::span<const profile::Frame> native,
                      std::span<const NativeFrameRole> roles,
                      std::span<const PythonStackFrame> python, std::vector<profile::Frame>& out);

}  // namespace profkit::pipeline
