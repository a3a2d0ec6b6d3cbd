// Verifies the offsets against the interpreters installed on this machine: the built-in tables
// (3.8–3.12) and ParseDebugOffsets on live `_Py_DebugOffsets` bytes (3.13–3.15; including the
// values the table lacks, such as 3.14's TSS key) must equal what the
// dumper compiled against that interpreter's own headers prints.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "profkit/python/offsets.h"
#include "testing/ci.h"
#include "testing/command.h"
#include "testing/installed_pythons.h"
#include "testing/temp_dir.h"

namespace profkit::python {
namespace {

namespace fs = std::filesystem;

constexpr int kFirstMinor = 8;
constexpr int kLastMinor = 15;
// Enough of `_PyRuntime` for any known `_Py_DebugOffsets` layout (3.15: 888 bytes).
constexpr int kRuntimeBytesToRead = 1024;

struct Interpreter {
  std::string python;    // executable
  std::string config;    // python3.X-config next to it, or
  std::string includes;  // the include flags when there is no config script
};

// Debian sid's 3.14/3.15 made by scripts/install-sid-pythons.sh ("version flavour path
// full-version" lines of its interpreters.txt): <prefix>/include/python3.X holds the headers; the
// root's include directory (for mimalloc) comes after the system's, whose glibc headers it would
// otherwise replace with sid's.
void AddSidInterpreters(int minor, std::vector<Interpreter>& found) {
  const char* root = std::getenv("PROFKIT_SID_PYTHON_ROOT");
  const fs::path base = root ? root : "/var/cache/profkit/sid-python";
  std::ifstream list(base / "interpreters.txt");
  std::string version, flavour, path, full_version;
  while (list >> version >> flavour >> path >> full_version) {
    std::error_code ec;
    if (version != "3." + std::to_string(minor) || !fs::exists(path, ec)) continue;
    const fs::path prefix = fs::path(path).parent_path().parent_path();
    const fs::path headers = prefix / "include" / ("python" + version);
    found.push_back({.python = path,
                     .includes = "-I" + headers.string() + " -idirafter " +
                                 (base / "root/usr/include").string()});
  }
}

// The test interpreters (testing/installed_pythons.h) whose headers are installed: a
// python3.X-config next to the executable, or for Debian sid's 3.14/3.15 their prefix's include/.
std::vector<Interpreter> FindInterpreters(int minor) {
  std::vector<Interpreter> found;
  for (const std::string& python : testing::InstalledPythons(minor)) {
    std::error_code ec;
    if (fs::exists(python + "-config", ec)) found.push_back({python, python + "-config"});
  }
  AddSidInterpreters(minor, found);
  return found;
}

// stdout and stderr of `command`.
testing::CommandOutput Run(const std::string& command) {
  return testing::RunCommand(command + " 2>&1");
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

using FieldMap = std::map<std::string, uint64_t>;

// The same names as the dumper prints; absent fields are left out.
FieldMap PresentFields(const CPythonOffsets& o) {
  FieldMap fields;
  const auto put = [&](const char* name, uint32_t value) {
    if (value != kNoOffset) fields[name] = value;
  };
  put("runtime.interpreters_head", o.runtime.interpreters_head);
  put("runtime.tss_is_initialized", o.runtime.tss_is_initialized);
  put("runtime.tss_key", o.runtime.tss_key);
  put("interpreter.threads_head", o.interpreter.threads_head);
  put("thread_state.next", o.thread_state.next);
  put("thread_state.interp", o.thread_state.interp);
  put("thread_state.frame", o.thread_state.frame);
  put("thread_state.cframe", o.thread_state.cframe);
  put("thread_state.current_frame", o.thread_state.current_frame);
  put("thread_state.base_frame", o.thread_state.base_frame);
  put("thread_state.thread_id", o.thread_state.thread_id);
  put("thread_state.native_thread_id", o.thread_state.native_thread_id);
  put("thread_state.size", o.thread_state.size);
  put("cframe.current_frame", o.cframe.current_frame);
  put("frame_object.f_back", o.frame_object.f_back);
  put("frame_object.f_code", o.frame_object.f_code);
  put("frame_object.f_lasti", o.frame_object.f_lasti);
  put("interpreter_frame.code", o.interpreter_frame.code);
  put("interpreter_frame.previous", o.interpreter_frame.previous);
  put("interpreter_frame.instr_ptr", o.interpreter_frame.instr_ptr);
  put("interpreter_frame.owner", o.interpreter_frame.owner);
  put("interpreter_frame.is_entry", o.interpreter_frame.is_entry);
  put("interpreter_frame.size", o.interpreter_frame.size);
  put("code_object.argcount", o.code_object.argcount);
  put("code_object.kwonlyargcount", o.code_object.kwonlyargcount);
  put("code_object.flags", o.code_object.flags);
  put("code_object.firstlineno", o.code_object.firstlineno);
  put("code_object.filename", o.code_object.filename);
  put("code_object.name", o.code_object.name);
  put("code_object.qualname", o.code_object.qualname);
  put("code_object.lnotab", o.code_object.lnotab);
  put("code_object.linetable", o.code_object.linetable);
  put("code_object.code", o.code_object.code);
  put("code_object.code_adaptive", o.code_object.code_adaptive);
  put("code_object.size", o.code_object.size);
  put("object.ob_type", o.object.ob_type);
  put("unicode.length", o.unicode.length);
  put("unicode.state", o.unicode.state);
  put("unicode.ascii_data", o.unicode.ascii_data);
  put("unicode.compact_data", o.unicode.compact_data);
  put("bytes.ob_size", o.bytes.ob_size);
  put("bytes.ob_sval", o.bytes.ob_sval);
  return fields;
}

// Compiles the dumper against the interpreter's headers and returns its "<name> <value>" lines.
FieldMap DumpFromHeaders(const Interpreter& interpreter, const std::string& dir) {
  testing::CommandOutput includes{.exit_code = 0, .text = interpreter.includes};
  if (!interpreter.config.empty()) includes = Run(interpreter.config + " --includes");
  EXPECT_EQ(includes.exit_code, 0) << includes.text;
  const std::string binary = dir + "/offsets_dumper";
  const testing::CommandOutput compile =
      Run("cc -std=c11 -Wall -Werror " + Trim(includes.text) + " -o " + binary + " " +
          PROFKIT_SOURCE_DIR "/tests/unit/python/offsets_dumper.c");
  EXPECT_EQ(compile.exit_code, 0) << compile.text;
  const testing::CommandOutput dump = Run(binary);
  EXPECT_EQ(dump.exit_code, 0) << dump.text;
  FieldMap fields;
  size_t start = 0;
  while (start < dump.text.size()) {
    size_t end = dump.text.find('\n', start);
    if (end == std::string::npos) end = dump.text.size();
    const std::string line = dump.text.substr(start, end - start);
    const size_t space = line.find(' ');
    if (space != std::string::npos) {
      fields[line.substr(0, space)] = std::stoull(line.substr(space + 1));
    }
    start = end + 1;
  }
  return fields;
}

// Field-by-field comparison so a failure names every differing field.
void ExpectSameFields(const FieldMap& expected_from_headers, const FieldMap& actual,
                      const std::string& what) {
  for (const auto& [name, value] : expected_from_headers) {
    const auto it = actual.find(name);
    if (it == actual.end()) {
      ADD_FAILURE() << what << ": " << name << " is absent, headers say " << value;
    } else {
      EXPECT_EQ(it->second, value) << what << ": " << name;
    }
  }
  for (const auto& [name, value] : actual) {
    EXPECT_TRUE(expected_from_headers.contains(name))
        << what << ": " << name << "=" << value << " does not exist in these headers";
  }
}

std::vector<uint8_t> ParseHex(const std::string& hex) {
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

// The interpreter's own view of its version and the bytes at the start of its `_PyRuntime`
// (its `_Py_DebugOffsets` on 3.13+), read in-process through ctypes.
std::string AskInterpreter(const Interpreter& interpreter, const std::string& script) {
  const testing::CommandOutput result = Run(interpreter.python + " -c '" + script + "'");
  EXPECT_EQ(result.exit_code, 0) << interpreter.python << ": " << result.text;
  return Trim(result.text);
}

class InstalledInterpreterTest : public ::testing::TestWithParam<int> {};

TEST_P(InstalledInterpreterTest, OffsetsMatchTheInterpreterHeaders) {
  const int minor = GetParam();
  const std::vector<Interpreter> interpreters = FindInterpreters(minor);
  if (interpreters.empty()) {
    if (testing::RunningInCi()) FAIL() << "CI=true but no Python 3." << minor << " with headers";
    GTEST_SKIP() << "no Python 3." << minor << " with headers installed";
  }

  for (const Interpreter& interpreter : interpreters) {
    SCOPED_TRACE(interpreter.python);
    testing::TempDir dir;
    FieldMap from_headers = DumpFromHeaders(interpreter, dir.path());
    ASSERT_TRUE(from_headers.contains("version"));
    auto header_version = ParsePyVersionHex(static_cast<uint32_t>(from_headers["version"]));
    ASSERT_TRUE(header_version.ok()) << header_version.status().message();
    from_headers.erase("version");

    // Version sources agree with each other and with the headers.
    const std::string version_string =
        AskInterpreter(interpreter, "import platform; print(platform.python_version())");
    auto from_string = ParsePyVersionString(version_string);
    ASSERT_TRUE(from_string.ok()) << from_string.status().message();
    EXPECT_EQ(*from_string, *header_version);
    auto from_name = ParsePythonFileName(interpreter.python);
    ASSERT_TRUE(from_name.ok()) << from_name.status().message();
    EXPECT_EQ(from_name->minor, minor);
    if (minor >= 11) {
      const std::string py_version_hex = AskInterpreter(
          interpreter, "import ctypes; v = ctypes.c_char.in_dll(ctypes.pythonapi, \"Py_Version\"); "
                       "print(ctypes.string_at(ctypes.addressof(v), 4).hex())");
      const std::vector<uint8_t> bytes = ParseHex(py_version_hex);
      auto from_symbol = ParsePyVersionBytes(bytes);
      ASSERT_TRUE(from_symbol.ok()) << from_symbol.status().message();
      EXPECT_EQ(*from_symbol, *header_version);
    }

    if (minor <= 12) {
      const std::optional<CPythonOffsets> builtin = BuiltinOffsets(3, minor);
      ASSERT_TRUE(builtin.has_value());
      EXPECT_EQ(builtin->version.minor, minor);
      ExpectSameFields(from_headers, PresentFields(*builtin), "BuiltinOffsets");
      continue;
    }
    const std::string runtime_hex = AskInterpreter(
        interpreter, "import ctypes; r = ctypes.c_char.in_dll(ctypes.pythonapi, \"_PyRuntime\"); "
                     "print(ctypes.string_at(ctypes.addressof(r), " +
                         std::to_string(kRuntimeBytesToRead) + ").hex())");
    const std::vector<uint8_t> runtime = ParseHex(runtime_hex);
    ASSERT_EQ(runtime.size(), static_cast<size_t>(kRuntimeBytesToRead)) << runtime_hex;
    auto parsed = ParseDebugOffsets(runtime);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    EXPECT_EQ(parsed->version, *header_version);
    ExpectSameFields(from_headers, PresentFields(*parsed), "ParseDebugOffsets");
  }
}

INSTANTIATE_TEST_SUITE_P(Minors, InstalledInterpreterTest,
                         ::testing::Range(kFirstMinor, kLastMinor + 1),
                         [](const auto& info) { return "Python3_" + std::to_string(info.param); });

TEST(InstalledInterpreterTest, SomeInterpreterIsInstalled) {
  for (int minor = kFirstMinor; minor <= kLastMinor; ++minor) {
    if (!FindInterpreters(minor).empty()) return;
  }
  if (testing::RunningInCi()) {
    FAIL() << "CI=true but no Python 3.8–3.15 with headers found (PROFKIT_TEST_PYTHONS, "
           << testing::SidPythonRoot() << "/interpreters.txt, " << testing::PyenvRoot()
           << "/versions, /usr/bin)";
  }
  GTEST_SKIP() << "no Python 3.8–3.15 with headers found; offsets unverified on this machine";
}

}  // namespace
}  // namespace profkit::python
