#include "profkit/pipeline/python_stacks.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace profkit::pipeline {
namespace {

using Role = NativeFrameRole;

constexpr uint32_t kInterpreterModule = 3;
constexpr uint32_t kExtensionModule = 4;

profile::Frame Native(uint64_t address, uint32_t module = kExtensionModule) {
  return {.kind = profile::FrameKind::kNative,
          .is_return_address = true,
          .module_id = module,
          .address = address};
}

profile::Frame Py(uint32_t function) {
  return {.kind = profile::FrameKind::kPython, .module_id = function, .address = 10 + function};
}

PythonStackFrame PyFrame(uint32_t function, bool entry = false) {
  return {.frame = Py(function), .entry = entry};
}

std::vector<profile::Frame> Merge(const std::vector<profile::Frame>& native,
                                  const std::vector<Role>& roles,
                                  const std::vector<PythonStackFrame>& python) {
  EXPECT_EQ(native.size(), roles.size());
  std::vector<profile::Frame> out;
  MergePythonStack(native, roles, python, out);
  return out;
}

// Readable failure output: "N<address>" / "P<function>".
std::string Describe(const std::vector<profile::Frame>& frames) {
  std::string text;
  for (const profile::Frame& f : frames) {
    text += f.kind == profile::FrameKind::kPython ? "P" + std::to_string(f.module_id)
                                                  : "N" + std::to_string(f.address);
    text += ' ';
  }
  return text;
}

#define EXPECT_STACK(actual, expected) \
  EXPECT_EQ(actual, expected) << Describe(actual) << "!= " << Describe(expected)

TEST(MergePythonStackTest, InterleavesOneGroupPerEvalLoopFrame) {
  // leaf (C extension) ← eval #1 ← ctypes call ← eval #2 ← Py_RunMain ← main ← _start
  const std::vector<profile::Frame> native = {Native(1),
                                              Native(2, kInterpreterModule),
                                              Native(3),
                                              Native(4, kInterpreterModule),
                                              Native(5, kInterpreterModule),
                                              Native(6, kInterpreterModule),
                                              Native(7)};
  const std::vector<Role> roles = {Role::kOther,    Role::kEvalLoop,    Role::kOther,
                                   Role::kEvalLoop, Role::kInterpreter, Role::kInterpreter,
                                   Role::kOther};
  const std::vector<PythonStackFrame> python = {PyFrame(20), PyFrame(21, true), PyFrame(22),
                                                PyFrame(23, true)};
  const std::vector<profile::Frame> merged = Merge(native, roles, python);
  // C frames between Python groups stay; natives below the outermost Python frame are dropped.
  const std::vector<profile::Frame> expected = {Native(1), Py(20), Py(21),
                                                Native(3), Py(22), Py(23)};
  EXPECT_STACK(merged, expected);
}

TEST(MergePythonStackTest, InterpreterFramesBetweenGroupsAreKept) {
  // eval #1 ← PyObject_Call (interpreter, not the eval loop) ← eval #2
  const std::vector<profile::Frame> native = {
      Native(1, kInterpreterModule), Native(2, kInterpreterModule), Native(3, kInterpreterModule)};
  const std::vector<Role> roles = {Role::kEvalLoop, Role::kInterpreter, Role::kEvalLoop};
  const std::vector<PythonStackFrame> python = {PyFrame(20, true), PyFrame(21, true)};
  const std::vector<profile::Frame> expected = {Py(20), Native(2, kInterpreterModule), Py(21)};
  EXPECT_STACK(Merge(native, roles, python), expected);
}

TEST(MergePythonStackTest, TrailingGroupWithoutEntryFlag) {
  // The walk stopped (truncated) before the outermost group's entry frame: its last frame still
  // closes a group, matched with the second eval-loop frame.
  const std::vector<profile::Frame> native = {Native(1, kInterpreterModule), Native(2),
                                              Native(3, kInterpreterModule),
                                              Native(4, kInterpreterModule)};
  const std::vector<Role> roles = {Role::kEvalLoop, Role::kOther, Role::kEvalLoop,
                                   Role::kInterpreter};
  const std::vector<PythonStackFrame> python = {PyFrame(20, true), PyFrame(21), PyFrame(22)};
  const std::vector<profile::Frame> expected = {Py(20), Native(2), Py(21), Py(22)};
  EXPECT_STACK(Merge(native, roles, python), expected);
}

TEST(MergePythonStackTest, LeafInEvalLoop) {
  const std::vector<profile::Frame> native = {Native(1, kInterpreterModule),
                                              Native(2, kInterpreterModule), Native(3)};
  const std::vector<Role> roles = {Role::kEvalLoop, Role::kInterpreter, Role::kOther};
  const std::vector<PythonStackFrame> python = {PyFrame(20), PyFrame(21), PyFrame(22, true)};
  const std::vector<profile::Frame> expected = {Py(20), Py(21), Py(22)};
  EXPECT_STACK(Merge(native, roles, python), expected);
}

TEST(MergePythonStackTest, FallbackKeepsLeafAndMappedCallersOutsideTheInterpreter) {
  // No eval-loop frame found (interpreter without frame pointers): the leaf is kept even inside
  // the interpreter, then callers while outside it; here the walk then hits the interpreter.
  const std::vector<profile::Frame> native = {Native(1, kInterpreterModule), Native(2), Native(3),
                                              Native(4, kInterpreterModule), Native(5)};
  const std::vector<Role> roles = {Role::kInterpreter, Role::kOther, Role::kOther,
                                   Role::kInterpreter, Role::kOther};
  const std::vector<PythonStackFrame> python = {PyFrame(20), PyFrame(21, true), PyFrame(22, true)};
  const std::vector<profile::Frame> expected = {
      Native(1, kInterpreterModule), Native(2), Native(3), Py(20), Py(21), Py(22)};
  EXPECT_STACK(Merge(native, roles, python), expected);
}

TEST(MergePythonStackTest, FallbackStopsAtAnUnmappedCaller) {
  const std::vector<profile::Frame> native = {Native(1), Native(2),
                                              Native(3, profile::kUnknownModule), Native(4)};
  const std::vector<Role> roles = {Role::kOther, Role::kOther, Role::kOther, Role::kOther};
  const std::vector<PythonStackFrame> python = {PyFrame(20, true)};
  const std::vector<profile::Frame> expected = {Native(1), Native(2), Py(20)};
  EXPECT_STACK(Merge(native, roles, python), expected);
}

TEST(MergePythonStackTest, FallbackKeepsAnUnmappedLeaf) {
  // JIT code or an anonymous mapping: the sampled instruction is kept whatever it is.
  const std::vector<profile::Frame> native = {Native(1, profile::kUnknownModule), Native(2)};
  const std::vector<Role> roles = {Role::kOther, Role::kOther};
  const std::vector<PythonStackFrame> python = {PyFrame(20, true), PyFrame(21, true)};
  const std::vector<profile::Frame> expected = {Native(1, profile::kUnknownModule), Native(2),
                                                Py(20), Py(21)};
  EXPECT_STACK(Merge(native, roles, python), expected);
}

TEST(MergePythonStackTest, FallbackWhenEvalLoopCountDiffers) {
  // Three eval-loop frames for two groups (a frame-pointer walk that went astray): no
  // interleaving; native frames stop at the first eval-loop frame.
  const std::vector<profile::Frame> native = {Native(1), Native(2, kInterpreterModule), Native(3),
                                              Native(4, kInterpreterModule),
                                              Native(5, kInterpreterModule)};
  const std::vector<Role> roles = {Role::kOther, Role::kEvalLoop, Role::kOther, Role::kEvalLoop,
                                   Role::kEvalLoop};
  const std::vector<PythonStackFrame> python = {PyFrame(20, true), PyFrame(21, true)};
  const std::vector<profile::Frame> expected = {Native(1), Py(20), Py(21)};
  EXPECT_STACK(Merge(native, roles, python), expected);

  // One eval-loop frame for two groups, leaf in the eval loop: only the Python frames.
  const std::vector<profile::Frame> leaf_in_loop = {Native(2, kInterpreterModule), Native(3)};
  const std::vector<Role> leaf_roles = {Role::kEvalLoop, Role::kOther};
  const std::vector<profile::Frame> python_only = {Py(20), Py(21)};
  EXPECT_STACK(Merge(leaf_in_loop, leaf_roles, python), python_only);
}

TEST(MergePythonStackTest, NoNativeFrames) {
  const std::vector<PythonStackFrame> python = {PyFrame(20), PyFrame(21, true), PyFrame(22)};
  const std::vector<profile::Frame> expected = {Py(20), Py(21), Py(22)};
  EXPECT_STACK(Merge({}, {}, python), expected);
}

TEST(MergePythonStackTest, AppendsToWhatIsAlreadyThere) {
  const profile::Frame kernel{.kind = profile::FrameKind::kKernel, .address = 0xffffffff81000000};
  std::vector<profile::Frame> out = {kernel};
  const std::vector<profile::Frame> native = {Native(1)};
  const std::vector<Role> roles = {Role::kOther};
  const std::vector<PythonStackFrame> python = {PyFrame(20, true)};
  MergePythonStack(native, roles, python, out);
  const std::vector<profile::Frame> expected = {kernel, Native(1), Py(20)};
  EXPECT_STACK(out, expected);
}

}  // namespace
}  // namespace profkit::pipeline
