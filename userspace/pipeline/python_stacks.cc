#include "profkit/pipeline/python_stacks.h"

#include <algorithm>

namespace profkit::pipeline {

void MergePythonStack(std::span<const profile::Frame> native,
                      std::span<const NativeFrameRole> roles,
                      std::span<const PythonStackFrame> python, std::vector<profile::Frame>& out) {
  const size_t eval_frames =
      static_cast<size_t>(std::count(roles.begin(), roles.end(), NativeFrameRole::kEvalLoop));
  size_t groups = 0;
  for (size_t i = 0; i < python.size(); ++i) {
    if (python[i].entry || i + 1 == python.size()) ++groups;
  }

  if (eval_frames > 0 && eval_frames == groups) {
    size_t next_python = 0;
    for (size_t i = 0; i < native.size() && next_python < python.size(); ++i) {
      if (roles[i] != NativeFrameRole::kEvalLoop) {
        out.push_back(native[i]);
        continue;
      }
      while (next_python < python.size()) {
        const PythonStackFrame& frame = python[next_python++];
        out.push_back(frame.frame);
        if (frame.entry) break;
      }
    }
    return;
  }

  for (size_t i = 0; i < native.size(); ++i) {
    if (roles[i] == NativeFrameRole::kEvalLoop) break;
    // The sampled instruction is kept wherever it is; its callers only while outside the
    // interpreter and in mapped code (a frame-pointer walk through code without frame pointers
    // yields data, not return addresses).
    if (i > 0 &&
        (roles[i] != NativeFrameRole::kOther || native[i].module_id == profile::kUnknownModule)) {
      break;
    }
    out.push_back(native[i]);
  }
  for (const PythonStackFrame& frame : python) out.push_back(frame.frame);
}

}  // namespace profkit::pipeline
