// Expectations shared by the walker layout tests: the layout WalkerLayout derives from a version's
// offsets, for a module at a fixed runtime address and load bias.
#pragma once

#include <gtest/gtest.h>

#include "profkit/bpf_abi.h"
#include "profkit/python/interpreter.h"

namespace profkit::python {

inline constexpr uint64_t kRuntime = 0x5a1e40;
inline constexpr uint64_t kBias = 0x7f3a12000000;

inline InterpreterModule Module(const CPythonOffsets& offsets) {
  return InterpreterModule{.offsets = offsets, .runtime_address = kRuntime};
}

// Every field the walker reads lies inside the bytes it copies.
inline void ExpectFieldsInsideCopies(const profkit_python_process& p) {
  ASSERT_LE(p.frame_read_bytes, PROFKIT_PYTHON_FRAME_READ_BYTES);
  ASSERT_GT(p.frame_read_bytes, 0);
  const size_t instruction_width = p.layout == PROFKIT_PYTHON_LAYOUT_FRAME_OBJECT ? 4 : 8;
  EXPECT_LE(p.frame_previous + 8u, p.frame_read_bytes);
  EXPECT_LE(p.frame_code + 8u, p.frame_read_bytes);
  EXPECT_LE(p.frame_instruction + instruction_width, p.frame_read_bytes);
  if (p.frame_owner != PROFKIT_PYTHON_NO_OFFSET) {
    EXPECT_LT(p.frame_owner, p.frame_read_bytes);
  }
  if (p.frame_is_entry != PROFKIT_PYTHON_NO_OFFSET) {
    EXPECT_LT(p.frame_is_entry, p.frame_read_bytes);
  }
  for (const uint16_t field :
       {p.code_argcount, p.code_kwonlyargcount, p.code_flags, p.code_firstlineno}) {
    EXPECT_LE(field + 4u, PROFKIT_PYTHON_CODE_READ_BYTES);
  }
}

inline void ExpectLayoutMatchesOffsets(const CPythonOffsets& o, const profkit_python_process& p) {
  const int minor = o.version.minor;
  EXPECT_EQ(p.tss_address, kBias + kRuntime + o.runtime.tss_is_initialized);
  EXPECT_EQ(p.tsd_first_block, kGlibcTsdFirstBlock);
  EXPECT_EQ(p.tsd_second_level, kGlibcTsdSecondLevel);
  EXPECT_EQ(p.code_argcount, o.code_object.argcount);
  EXPECT_EQ(p.code_kwonlyargcount, o.code_object.kwonlyargcount);
  EXPECT_EQ(p.code_flags, o.code_object.flags);
  EXPECT_EQ(p.code_firstlineno, o.code_object.firstlineno);
  if (minor <= 10) {
    EXPECT_EQ(p.layout, PROFKIT_PYTHON_LAYOUT_FRAME_OBJECT);
    EXPECT_EQ(p.thread_frame, o.thread_state.frame);
    EXPECT_EQ(p.cframe_current_frame, PROFKIT_PYTHON_NO_OFFSET);
    EXPECT_EQ(p.frame_previous, o.frame_object.f_back);
    EXPECT_EQ(p.frame_code, o.frame_object.f_code);
    EXPECT_EQ(p.frame_instruction, o.frame_object.f_lasti);
    EXPECT_EQ(p.frame_owner, PROFKIT_PYTHON_NO_OFFSET);
    EXPECT_EQ(p.frame_is_entry, PROFKIT_PYTHON_NO_OFFSET);
    EXPECT_EQ(p.code_adaptive, 0);
    return;
  }
  EXPECT_EQ(p.layout, PROFKIT_PYTHON_LAYOUT_INTERPRETER_FRAME);
  if (minor <= 12) {
    EXPECT_EQ(p.thread_frame, o.thread_state.cframe);
    EXPECT_EQ(p.cframe_current_frame, o.cframe.current_frame);
  } else {
    EXPECT_EQ(p.thread_frame, o.thread_state.current_frame);
    EXPECT_EQ(p.cframe_current_frame, PROFKIT_PYTHON_NO_OFFSET);
  }
  EXPECT_EQ(p.frame_previous, o.interpreter_frame.previous);
  EXPECT_EQ(p.frame_code, o.interpreter_frame.code);
  EXPECT_EQ(p.frame_instruction, o.interpreter_frame.instr_ptr);
  if (minor == 11) {
    EXPECT_EQ(p.frame_is_entry, o.interpreter_frame.is_entry);
    EXPECT_EQ(p.frame_owner, PROFKIT_PYTHON_NO_OFFSET);
  } else {
    EXPECT_EQ(p.frame_owner, o.interpreter_frame.owner);
    EXPECT_EQ(p.frame_is_entry, PROFKIT_PYTHON_NO_OFFSET);
  }
  // A frame at the end of its data-stack chunk may be followed by an unmapped page.
  EXPECT_LE(p.frame_read_bytes, o.interpreter_frame.size);
  EXPECT_EQ(p.code_adaptive, o.code_object.code_adaptive);
  EXPECT_NE(p.code_adaptive, 0);
}

}  // namespace profkit::python
