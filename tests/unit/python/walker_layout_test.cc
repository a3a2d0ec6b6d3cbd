// WalkerLayout: the BPF walker's map entry derived from each version's offsets.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "profkit/bpf_abi.h"
#include "profkit/python/interpreter.h"
#include "walker_layout_checks.h"

namespace profkit::python {
namespace {

class BuiltinLayoutTest : public ::testing::TestWithParam<int> {};

TEST_P(BuiltinLayoutTest, MatchesTheOffsets) {
  const std::optional<CPythonOffsets> offsets = BuiltinOffsets(3, GetParam());
  ASSERT_TRUE(offsets.has_value());
  Result<profkit_python_process> layout = WalkerLayout(Module(*offsets), kBias);
  ASSERT_TRUE(layout.ok()) << layout.status().message();
  ExpectLayoutMatchesOffsets(*offsets, *layout);
  ExpectFieldsInsideCopies(*layout);
  EXPECT_EQ(layout->none_address, 0u);
}

INSTANTIATE_TEST_SUITE_P(Versions, BuiltinLayoutTest, ::testing::Range(8, 13),
                         [](const auto& info) { return "Python3_" + std::to_string(info.param); });

TEST(WalkerLayoutTest, LoadBiasMovesOnlyAddresses) {
  InterpreterModule module = Module(*BuiltinOffsets(3, 12));
  module.none_address = 0x5b0000;
  Result<profkit_python_process> at_zero = WalkerLayout(module, 0);
  Result<profkit_python_process> biased = WalkerLayout(module, kBias);
  ASSERT_TRUE(at_zero.ok() && biased.ok());
  EXPECT_EQ(at_zero->tss_address, kRuntime + module.offsets.runtime.tss_is_initialized);
  EXPECT_EQ(biased->tss_address, at_zero->tss_address + kBias);
  EXPECT_EQ(biased->none_address, kBias + 0x5b0000);
  EXPECT_EQ(biased->thread_frame, at_zero->thread_frame);
  EXPECT_EQ(biased->frame_read_bytes, at_zero->frame_read_bytes);
}

// Offsets the walker's fixed-size copies cannot hold are refused with the field's name.
TEST(WalkerLayoutTest, OffsetThatDoesNotFitNamesTheField) {
  struct Case {
    int minor;
    void (*corrupt)(CPythonOffsets&);
    std::string field;
  };
  const std::vector<Case> cases = {
      {10, [](CPythonOffsets& o) { o.frame_object.f_lasti = PROFKIT_PYTHON_FRAME_READ_BYTES - 2; },
       "f_lasti"},
      {9, [](CPythonOffsets& o) { o.frame_object.f_back = PROFKIT_PYTHON_FRAME_READ_BYTES; },
       "f_back"},
      {8, [](CPythonOffsets& o) { o.frame_object.f_code = kNoOffset; }, "f_code"},
      {12, [](CPythonOffsets& o) { o.interpreter_frame.previous = o.interpreter_frame.size - 4; },
       "previous"},
      {11, [](CPythonOffsets& o) { o.interpreter_frame.code = 4096; }, "f_code/f_executable"},
      {12, [](CPythonOffsets& o) { o.interpreter_frame.instr_ptr = kNoOffset; },
       "prev_instr/instr_ptr"},
      {11,
       [](CPythonOffsets& o) { o.interpreter_frame.is_entry = PROFKIT_PYTHON_FRAME_READ_BYTES; },
       "is_entry"},
      {12, [](CPythonOffsets& o) { o.interpreter_frame.owner = kNoOffset; }, "owner"},
      {12,
       [](CPythonOffsets& o) { o.code_object.firstlineno = PROFKIT_PYTHON_CODE_READ_BYTES - 3; },
       "co_firstlineno"},
      {8, [](CPythonOffsets& o) { o.code_object.argcount = kNoOffset; }, "co_argcount"},
      {10, [](CPythonOffsets& o) { o.code_object.flags = 1000; }, "co_flags"},
      {11, [](CPythonOffsets& o) { o.code_object.kwonlyargcount = 80; }, "co_kwonlyargcount"},
  };
  for (const Case& c : cases) {
    CPythonOffsets offsets = *BuiltinOffsets(3, c.minor);
    c.corrupt(offsets);
    Result<profkit_python_process> layout = WalkerLayout(Module(offsets), kBias);
    ASSERT_FALSE(layout.ok()) << c.field;
    EXPECT_NE(layout.status().message().find(c.field), std::string::npos)
        << c.field << ": " << layout.status().message();
  }
}

TEST(WalkerLayoutTest, InconsistentStructsAreRefused) {
  CPythonOffsets o = *BuiltinOffsets(3, 11);
  o.runtime.tss_key = o.runtime.tss_is_initialized + 8;
  EXPECT_FALSE(WalkerLayout(Module(o), kBias).ok());

  o = *BuiltinOffsets(3, 12);
  o.thread_state.cframe = kNoOffset;
  o.thread_state.current_frame = kNoOffset;
  EXPECT_FALSE(WalkerLayout(Module(o), kBias).ok());

  o = *BuiltinOffsets(3, 12);
  o.code_object.code_adaptive = kNoOffset;
  EXPECT_FALSE(WalkerLayout(Module(o), kBias).ok());
}

// 3.14 and 3.15 from the tables of Debian's interpreters (tests/data/python/): 3.14 keeps the TSS
// key; 3.15 reads the thread-local gilstate, in both TLS models.
CPythonOffsets OffsetsFromTable(const std::string& name) {
  std::ifstream in(std::string(PROFKIT_TEST_DATA_DIR) + "/python/" + name, std::ios::binary);
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                   std::istreambuf_iterator<char>()};
  Result<CPythonOffsets> offsets = ParseDebugOffsets(bytes);
  EXPECT_TRUE(offsets.ok()) << name << ": " << offsets.status().message();
  return offsets.ok() ? *offsets : CPythonOffsets{};
}

TEST(WalkerLayoutTest, Python314FromDebugOffsets) {
  const CPythonOffsets offsets = OffsetsFromTable("debug_offsets_3.14.10.bin");
  Result<profkit_python_process> layout = WalkerLayout(Module(offsets), kBias);
  ASSERT_TRUE(layout.ok()) << layout.status().message();
  ExpectLayoutMatchesOffsets(offsets, *layout);
  ExpectFieldsInsideCopies(*layout);
  EXPECT_EQ(layout->thread_state_source, PROFKIT_PYTHON_TSTATE_TSS);
  EXPECT_EQ(layout->tss_address, kBias + kRuntime + 2336);
  EXPECT_EQ(layout->frame_code_tag_bits, 3);
  EXPECT_EQ(layout->frame_owner, 74);
  EXPECT_EQ(layout->code_adaptive, 208);
  EXPECT_EQ(layout->thread_base_frame, PROFKIT_PYTHON_NO_OFFSET);
}

TEST(WalkerLayoutTest, Python315StaticTls) {
  const CPythonOffsets offsets = OffsetsFromTable("debug_offsets_3.15.2.bin");
  InterpreterModule module = Module(offsets);
  module.gilstate_location =
      ThreadLocalLocation{.model = ThreadLocalLocation::Model::kStaticTls, .offset = -0x28};
  Result<profkit_python_process> layout = WalkerLayout(module, 0);
  ASSERT_TRUE(layout.ok()) << layout.status().message();
  ExpectFieldsInsideCopies(*layout);
  EXPECT_EQ(layout->thread_state_source, PROFKIT_PYTHON_TSTATE_STATIC_TLS);
  EXPECT_EQ(layout->tls_offset, -0x28);
  EXPECT_EQ(layout->tls_index_address, 0u);
  EXPECT_EQ(layout->thread_frame, 72);
  EXPECT_EQ(layout->thread_base_frame, 80);
  EXPECT_EQ(layout->frame_code_tag_bits, 3);
  EXPECT_EQ(layout->frame_owner, 74);
  EXPECT_EQ(layout->code_adaptive, 208);
}

TEST(WalkerLayoutTest, Python315DynamicTlsMovesWithTheLoadBias) {
  InterpreterModule module = Module(OffsetsFromTable("debug_offsets_3.15.2.bin"));
  module.gilstate_location = ThreadLocalLocation{.model = ThreadLocalLocation::Model::kDynamicTls,
                                                 .offset = 0x28,
                                                 .tls_index_address = 0x879790};
  Result<profkit_python_process> layout = WalkerLayout(module, kBias);
  ASSERT_TRUE(layout.ok()) << layout.status().message();
  EXPECT_EQ(layout->thread_state_source, PROFKIT_PYTHON_TSTATE_DYNAMIC_TLS);
  EXPECT_EQ(layout->tls_index_address, kBias + 0x879790);
  EXPECT_EQ(layout->tls_offset, 0x28);
}

TEST(WalkerLayoutTest, Python315WithoutAThreadLocalIsRefused) {
  Result<profkit_python_process> layout =
      WalkerLayout(Module(OffsetsFromTable("debug_offsets_3.15.2.bin")), kBias);
  ASSERT_FALSE(layout.ok());
  EXPECT_NE(layout.status().message().find("thread-local gilstate not located"), std::string::npos);
}

}  // namespace
}  // namespace profkit::python
