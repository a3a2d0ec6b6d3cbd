// End to end on every installed CPython 3.8–3.15: detection of the interpreter module, version,
// load bias and walker layout checked against the live process's TSS key (3.15: its thread-local
// gilstate's TLS index), and code objects read
// out of its memory compared with what the interpreter says about them.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "profkit/bpf_abi.h"
#include "profkit/common/file_util.h"
#include "profkit/common/unique_fd.h"
#include "profkit/process/proc_parsers.h"
#include "profkit/python/code_object.h"
#include "profkit/python/frame_resolver.h"
#include "profkit/python/interpreter.h"
#include "profkit/python/process_memory.h"
#include "profkit/symbolize/native_symbolizer.h"
#include "testing/ci.h"
#include "testing/installed_pythons.h"
#include "testing/temp_dir.h"

extern char** environ;

namespace profkit::python {
namespace {

// A started interpreter prints its report within a second; this only bounds a broken one.
constexpr int kReportTimeoutMs = 60'000;
constexpr size_t kMaxReportBytes = 1 << 16;
constexpr size_t kMaxMapsBytes = 1 << 24;

// Defines a plain function, a method and a closure, reports their code objects, then blocks on
// stdin so the test can read its memory.
constexpr const char* kScript = R"(import sys

def plain(a, b=1, *, c=2):
    return a + b + c

class Klass:
    def method(self):
        return self

def outer(y):
    def inner(x):
        return x + y
    return inner

inner = outer(1)
print("version", *sys.version_info[:3])
for f in (plain, Klass.method, inner):
    c = f.__code__
    print("code", id(c), c.co_firstlineno, c.co_argcount, c.co_kwonlyargcount, c.co_flags,
          getattr(c, "co_qualname", c.co_name), c.co_filename)
print("ready", flush=True)
sys.stdin.read()
)";

struct ReportedCode {
  uint64_t address = 0;
  int32_t first_line = 0;
  uint32_t argcount = 0;
  uint32_t kwonlyargcount = 0;
  uint32_t flags = 0;
  std::string name;  // co_qualname where it exists, else co_name
  std::string filename;
};

struct Report {
  std::array<int, 3> version{};
  std::vector<ReportedCode> codes;
};

// The interpreter running kScript, stopped (killed and reaped) when this goes away.
class RunningPython {
 public:
  RunningPython(const std::string& python, const std::string& script) {
    int in[2];
    int out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return;
    UniqueFd child_stdin(in[0]);
    stdin_.reset(in[1]);
    if (pipe2(out, O_CLOEXEC) != 0) return;
    UniqueFd child_stdout(out[1]);
    stdout_.reset(out[0]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child_stdin.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, child_stdout.get(), STDOUT_FILENO);
    // -I: no PYTHON* variables or user site packages, whatever the test's environment.
    std::vector<std::string> args = {python, "-I", script};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }

  ~RunningPython() {
    stdin_.reset();
    stdout_.reset();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  RunningPython(const RunningPython&) = delete;
  RunningPython& operator=(const RunningPython&) = delete;

  pid_t pid() const { return pid_; }

  // Everything printed up to the "ready" line; empty when the interpreter died or timed out.
  std::string ReadReport() {
    std::string text;
    while (text.find("ready\n") == std::string::npos && text.size() < kMaxReportBytes) {
      pollfd fd{.fd = stdout_.get(), .events = POLLIN, .revents = 0};
      if (poll(&fd, 1, kReportTimeoutMs) <= 0) return "";
      char buffer[4096];
      const ssize_t n = read(stdout_.get(), buffer, sizeof(buffer));
      if (n <= 0) return "";
      text.append(buffer, static_cast<size_t>(n));
    }
    return text;
  }

 private:
  pid_t pid_ = -1;
  UniqueFd stdin_;
  UniqueFd stdout_;
};

Report ParseReport(const std::string& text) {
  Report report;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string tag;
    fields >> tag;
    if (tag == "version") {
      fields >> report.version[0] >> report.version[1] >> report.version[2];
    } else if (tag == "code") {
      ReportedCode code;
      fields >> code.address >> code.first_line >> code.argcount >> code.kwonlyargcount >>
          code.flags >> code.name >> code.filename;
      report.codes.push_back(code);
    }
  }
  return report;
}

struct FoundModule {
  uint32_t id = 0;
  process::MemoryMapping first_mapping;  // the lowest mapping of the file, as Register uses it
  InterpreterInspection inspection;
};

// Adds the executable and every libpython mapped by `pid` to `symbolizer` and inspects them.
std::vector<FoundModule> InspectProcessModules(symbolize::NativeSymbolizer& symbolizer, pid_t pid) {
  std::vector<FoundModule> found;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::error_code ec;
  const std::string exe = std::filesystem::read_symlink(proc + "/exe", ec).string();
  Result<std::string> maps_text = ReadFileBounded(proc + "/maps", kMaxMapsBytes);
  EXPECT_TRUE(maps_text.ok()) << maps_text.status().message();
  if (!maps_text.ok()) return found;
  Result<std::vector<process::MemoryMapping>> maps = process::ParseProcMaps(*maps_text);
  EXPECT_TRUE(maps.ok()) << maps.status().message();
  if (!maps.ok()) return found;
  std::map<std::string, bool> seen;
  for (const process::MemoryMapping& m : *maps) {
    const std::string name = std::filesystem::path(m.path).filename().string();
    if (m.path != exe && name.find("libpython") == std::string::npos) continue;
    if (!seen.emplace(m.path, true).second) continue;
    const std::string map_file = fmt::format("{}/map_files/{:x}-{:x}", proc, m.start, m.end);
    Result<uint32_t> id =
        symbolizer.AddModule({.dev = m.dev, .inode = m.inode}, m.path, {map_file, m.path});
    EXPECT_TRUE(id.ok()) << m.path << ": " << id.status().message();
    if (!id.ok()) continue;
    Result<InterpreterInspection> inspection = InspectInterpreterModule(symbolizer, *id, m.path);
    EXPECT_TRUE(inspection.ok()) << m.path << ": " << inspection.status().message();
    if (!inspection.ok()) continue;
    found.push_back({*id, m, std::move(inspection).value()});
  }
  return found;
}

LineTableFormat ExpectedFormat(int minor) {
  if (minor <= 9) return LineTableFormat::kLnotab;
  if (minor == 10) return LineTableFormat::kLinetable310;
  return LineTableFormat::kLocationTable;
}

// Py_tss_t {int _is_initialized; int _key} of the running interpreter: proves the runtime
// address, the bias and the TSS offsets at once.
void ExpectTssKey(const profkit_python_process& layout, const ProcessMemory& memory) {
  EXPECT_EQ(layout.thread_state_source, PROFKIT_PYTHON_TSTATE_TSS);
  std::array<int32_t, 2> tss{};
  const Status read =
      memory.Read(layout.tss_address, {reinterpret_cast<uint8_t*>(tss.data()), sizeof(tss)});
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_EQ(tss[0], 1) << "_is_initialized";
  EXPECT_GE(tss[1], 0) << "_key";
  EXPECT_LT(tss[1], 32) << "_key";
}

// 3.15: an executable's own TLS is at a negative fs offset (TLS below the thread pointer);
// libpython.so's tls_index, filled in by the dynamic loader, names a small module id.
void ExpectThreadLocalGilstate(const profkit_python_process& layout, const ProcessMemory& memory) {
  if (layout.thread_state_source == PROFKIT_PYTHON_TSTATE_STATIC_TLS) {
    EXPECT_LT(layout.tls_offset, 0);
    EXPECT_EQ(layout.tls_offset % 8, 0);
    return;
  }
  ASSERT_EQ(layout.thread_state_source, PROFKIT_PYTHON_TSTATE_DYNAMIC_TLS);
  std::array<uint64_t, 2> tls_index{};
  const Status read = memory.Read(
      layout.tls_index_address, {reinterpret_cast<uint8_t*>(tls_index.data()), sizeof(tls_index)});
  ASSERT_TRUE(read.ok()) << read.message();
  EXPECT_GE(tls_index[0], 1u) << "ti_module";
  EXPECT_LT(tls_index[0], 64u) << "ti_module";
  EXPECT_LT(tls_index[1] + static_cast<uint64_t>(layout.tls_offset), 4096u) << "ti_offset";
}

class LiveInterpreterTest : public ::testing::TestWithParam<int> {};

TEST_P(LiveInterpreterTest, InspectsAndReadsALiveInterpreter) {
  const int minor = GetParam();
  const std::vector<std::string> pythons = testing::InstalledPythons(minor);
  if (testing::RunningInCi()) {
    ASSERT_FALSE(pythons.empty()) << "CI=true but no Python 3." << minor << " is installed";
    if (minor == 11) {
      ASSERT_TRUE(std::filesystem::exists("/usr/bin/python3.11"))
          << "CI=true but Debian's /usr/bin/python3.11 is missing";
    }
  }
  if (pythons.empty()) GTEST_SKIP() << "no Python 3." << minor << " installed";

  for (const std::string& python : pythons) {
    SCOPED_TRACE(python);
    profkit::testing::TempDir dir;
    const std::string script = dir.path() + "/probe_script.py";
    std::ofstream(script) << kScript;
    RunningPython running(python, script);
    ASSERT_GT(running.pid(), 0);
    const std::string text = running.ReadReport();
    ASSERT_FALSE(text.empty()) << "the interpreter did not report";
    const Report report = ParseReport(text);
    ASSERT_EQ(report.version[0], 3);
    ASSERT_EQ(report.version[1], minor);
    ASSERT_EQ(report.codes.size(), 3u) << text;

    symbolize::NativeSymbolizer symbolizer;
    const std::vector<FoundModule> modules = InspectProcessModules(symbolizer, running.pid());
    const FoundModule* interpreter = nullptr;
    for (const FoundModule& m : modules) {
      EXPECT_EQ(m.inspection.unsupported_reason, "") << m.first_mapping.path;
      if (m.inspection.interpreter) {
        EXPECT_EQ(interpreter, nullptr) << "two interpreter modules";
        interpreter = &m;
      }
    }
    ASSERT_NE(interpreter, nullptr) << "no interpreter module among " << modules.size();
    const InterpreterModule& module = *interpreter->inspection.interpreter;
    EXPECT_EQ(module.offsets.version.major, 3);
    EXPECT_EQ(module.offsets.version.minor, minor);
    // The runtime version tag of the service: Py_Version (3.11+), else PY_VERSION in .rodata.
    EXPECT_EQ(module.offsets.version.micro, std::optional<int>(report.version[2]))
        << "micro version of " << interpreter->first_mapping.path;
    EXPECT_EQ(module.line_table_format, ExpectedFormat(minor));
    EXPECT_NE(module.runtime_address, 0u);
    EXPECT_EQ(module.none_address.has_value(), minor >= 13);
    ASSERT_FALSE(module.eval_loop_ranges.empty());
    for (const auto& [start, end] : module.eval_loop_ranges) EXPECT_LT(start, end);

    // The load bias as PythonProcesses::Register computes it.
    const std::optional<uint64_t> mapped =
        symbolizer.AddressOfFileOffset(interpreter->id, interpreter->first_mapping.file_offset);
    ASSERT_TRUE(mapped.has_value());
    const uint64_t bias = interpreter->first_mapping.start - *mapped;
    Result<profkit_python_process> layout = WalkerLayout(module, bias);
    ASSERT_TRUE(layout.ok()) << layout.status().message();

    const ProcessMemory memory(static_cast<uint32_t>(running.pid()));
    if (minor >= 15) {
      ExpectThreadLocalGilstate(*layout, memory);
    } else {
      ExpectTssKey(*layout, memory);
    }
    if (HasFatalFailure()) return;

    const std::vector<std::string> expected_names =
        minor >= 11 ? std::vector<std::string>{"plain", "Klass.method", "outer.<locals>.inner"}
                    : std::vector<std::string>{"plain", "method", "inner"};
    for (size_t i = 0; i < report.codes.size(); ++i) {
      const ReportedCode& reported = report.codes[i];
      SCOPED_TRACE(reported.name);
      Result<CodeObject> code = ReadCodeObject(memory, module.offsets, reported.address);
      ASSERT_TRUE(code.ok()) << code.status().message();
      EXPECT_EQ(code->name, expected_names[i]);
      EXPECT_EQ(code->name, reported.name);
      EXPECT_EQ(code->filename, script);
      EXPECT_EQ(code->filename, reported.filename);
      EXPECT_EQ(code->first_line, reported.first_line);
      EXPECT_EQ(code->checksum, profkit_python_code_checksum(
                                    reported.argcount, reported.kwonlyargcount, reported.flags,
                                    static_cast<uint32_t>(reported.first_line)));
      EXPECT_FALSE(code->line_table.empty());
      // The body's line: the function's first instruction that has one.
      EXPECT_GE(code->LineOf(module.line_table_format, 0), reported.first_line);
    }

    // The same through the per-process cache the agent uses, with BPF's checksum.
    FunctionTable functions;
    CodeObjectCache cache(module.offsets, module.line_table_format,
                          std::make_unique<ProcessMemory>(static_cast<uint32_t>(running.pid())));
    for (size_t i = 0; i < report.codes.size(); ++i) {
      const ReportedCode& reported = report.codes[i];
      const uint16_t checksum =
          profkit_python_code_checksum(reported.argcount, reported.kwonlyargcount, reported.flags,
                                       static_cast<uint32_t>(reported.first_line));
      const ResolvedPythonFrame frame = cache.Resolve(reported.address, 0, checksum, functions);
      EXPECT_EQ(
          functions.Get(frame.function_id),
          (PythonFunction{
              .name = expected_names[i], .filename = script, .first_line = reported.first_line}));
      EXPECT_GE(frame.line, reported.first_line);
    }
    EXPECT_EQ(cache.counters().reads, report.codes.size());
    EXPECT_EQ(cache.counters().read_failures, 0u);
    EXPECT_EQ(cache.counters().checksum_mismatches, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Minors, LiveInterpreterTest, ::testing::Range(8, 16),
                         [](const auto& info) { return "Python3_" + std::to_string(info.param); });

// Interpreters older than 3.8 are reported unsupported, never walked: 3.7 has `_PyRuntime` but
// no offsets; 3.6 has no `_PyRuntime` and is recognised by the `Py_Initialize` it defines.
TEST(LiveInterpreterTest, OlderInterpretersAreNotWalked) {
  bool any = false;
  for (const int minor : {6, 7}) {
    for (const std::string& python : testing::InstalledPythons(minor)) {
      SCOPED_TRACE(python);
      any = true;
      profkit::testing::TempDir dir;
      const std::string script = dir.path() + "/probe_script.py";
      std::ofstream(script) << kScript;
      RunningPython running(python, script);
      ASSERT_GT(running.pid(), 0);
      ASSERT_FALSE(running.ReadReport().empty());
      symbolize::NativeSymbolizer symbolizer;
      const std::vector<FoundModule> modules = InspectProcessModules(symbolizer, running.pid());
      ASSERT_FALSE(modules.empty());
      std::vector<std::string> reasons;
      for (const FoundModule& m : modules) {
        EXPECT_FALSE(m.inspection.interpreter.has_value()) << m.first_mapping.path;
        if (!m.inspection.unsupported_reason.empty())
          reasons.push_back(m.inspection.unsupported_reason);
      }
      // Only libpython says so; the executable linking it is not an interpreter itself.
      EXPECT_EQ(reasons, std::vector<std::string>{"CPython 3." + std::to_string(minor) +
                                                  " is not supported (3.8–3.15 are)"});
    }
  }
  if (!any) GTEST_SKIP() << "no Python 3.6 or 3.7 installed";
}

}  // namespace
}  // namespace profkit::python
