// WalkerLayout for 3.13+ from the _Py_DebugOffsets of the installed interpreters
// (testing/installed_pythons.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "profkit/bpf_abi.h"
#include "profkit/python/interpreter.h"
#include "profkit/python/offsets.h"
#include "testing/ci.h"
#include "testing/command.h"
#include "testing/installed_pythons.h"
#include "walker_layout_checks.h"

namespace profkit::python {
namespace {

// 3.13 has no built-in table: its layout comes from the _Py_DebugOffsets of a real interpreter.
TEST(WalkerLayoutTest, Python313FromDebugOffsets) {
  const std::vector<std::string> pythons = testing::InstalledPythons(13);
  if (pythons.empty()) {
    if (testing::RunningInCi()) FAIL() << "CI=true but no Python 3.13 is installed";
    GTEST_SKIP() << "no Python 3.13 installed";
  }
  for (const std::string& python : pythons) {
    SCOPED_TRACE(python);
    const testing::CommandOutput hex = testing::RunCommand(
        python + " -c 'import ctypes; r = ctypes.c_char.in_dll(ctypes.pythonapi, \"_PyRuntime\"); "
                 "print(ctypes.string_at(ctypes.addressof(r), 1024).hex())'");
    ASSERT_EQ(hex.exit_code, 0);
    std::vector<uint8_t> bytes;
    for (size_t i = 0; i + 1 < hex.text.size() && hex.text[i] != '\n'; i += 2) {
      bytes.push_back(static_cast<uint8_t>(std::stoul(hex.text.substr(i, 2), nullptr, 16)));
    }
    ASSERT_EQ(bytes.size(), 1024u);
    Result<CPythonOffsets> offsets = ParseDebugOffsets(bytes);
    ASSERT_TRUE(offsets.ok()) << offsets.status().message();
    InterpreterModule module = Module(*offsets);
    module.none_address = 0x5c0000;
    Result<profkit_python_process> layout = WalkerLayout(module, kBias);
    ASSERT_TRUE(layout.ok()) << layout.status().message();
    ExpectLayoutMatchesOffsets(*offsets, *layout);
    ExpectFieldsInsideCopies(*layout);
    EXPECT_EQ(layout->none_address, kBias + 0x5c0000);
  }
}

}  // namespace
}  // namespace profkit::python
