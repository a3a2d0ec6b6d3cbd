// Every interpreter on the machine (3.8-3.15) is asked for its own line of every instruction of
// many code objects (dump_code_lines.py); the decoder must agree on all of them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "profkit/common/file_util.h"
#include "profkit/python/line_table.h"
#include "testing/ci.h"
#include "testing/installed_pythons.h"
#include "testing/temp_dir.h"

namespace profkit::python {
namespace {

using nlohmann::json;

constexpr char kScriptDir[] = PROFKIT_SOURCE_DIR "/tests/unit/python";
// The dump of all code objects is a few MiB; more means something else went wrong.
constexpr size_t kMaxDumpBytes = size_t{256} << 20;
constexpr size_t kMaxLogBytes = size_t{1} << 20;
// Mismatches printed per interpreter; all are counted.
constexpr int kMaxReportedMismatches = 20;

// Every test interpreter (testing/installed_pythons.h), whatever its version.
std::vector<std::string> FindInterpreters() {
  std::vector<std::string> found;
  for (const testing::TestPython& python : testing::TestPythons()) found.push_back(python.path);
  return found;
}

// Runs `python -I dump_code_lines.py samples.py <dir> <dir>/dump.json`; the exit status and the
// interpreter's output are in the error on failure.
Result<json> DumpCodeLines(const std::string& python, const std::string& dir) {
  const std::string script = std::string(kScriptDir) + "/dump_code_lines.py";
  const std::string samples = std::string(kScriptDir) + "/samples.py";
  const std::string output = dir + "/dump.json";
  const std::string log = dir + "/python.log";
  const pid_t pid = fork();
  if (pid < 0) return Status::FromErrno("fork", errno);
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(127);
    execl(python.c_str(), python.c_str(), "-I", script.c_str(), samples.c_str(), dir.c_str(),
          output.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return Status::FromErrno("waitpid", errno);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Result<std::string> text = ReadFileBounded(log, kMaxLogBytes, /*truncate_ok=*/true);
    return Status::Internalf("{} exited with status {}: {}", python, status,
                             text.ok() ? *text : text.status().message());
  }
  PROFKIT_ASSIGN_OR_RETURN(std::string text, ReadFileBounded(output, kMaxDumpBytes));
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Status::InvalidInputf("{}: invalid JSON", output);
  return parsed;
}

std::optional<int32_t> JsonLine(const json& value) {
  if (value.is_null()) return std::nullopt;
  return value.get<int32_t>();
}

std::string LineText(const std::optional<int32_t>& line) {
  return line ? std::to_string(*line) : "None";
}

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

// Per code unit: the line from a list of [start, end, line] byte ranges; units outside every range
// have no line.
std::vector<std::optional<int32_t>> LinesPerUnit(const json& ranges, size_t units) {
  std::vector<std::optional<int32_t>> lines(units);
  for (const json& range : ranges) {
    const uint64_t start = range[0].get<uint64_t>();
    const uint64_t end = range[1].get<uint64_t>();
    for (uint64_t address = start; address < end && address / 2 < units; address += 2) {
      lines[address / 2] = JsonLine(range[2]);
    }
  }
  return lines;
}

std::vector<std::optional<int32_t>> DecodedLinesPerUnit(const std::vector<LineRange>& ranges,
                                                        size_t units) {
  std::vector<std::optional<int32_t>> lines(units);
  for (const LineRange& range : ranges) {
    for (uint64_t address = range.start; address < range.end && address / 2 < units; address += 2) {
      lines[address / 2] = range.line;
    }
  }
  return lines;
}

struct Counts {
  int64_t code_objects = 0;
  int64_t instructions = 0;
  int64_t mismatches = 0;
  int32_t largest_forward_jump = 0;
  int32_t largest_backward_jump = 0;
};

// Compares four answers per code unit: the interpreter's co_lines()/findlinestarts, its
// PyCode_Addr2Line, the decoder's lookup and the decoder's ranges.
void CheckCode(const json& code, LineTableFormat format, const std::string& label, Counts& counts) {
  const std::vector<uint8_t> bytes = FromHex(code.at("table").get<std::string>());
  const LineTable table{format, code.at("first_line").get<int32_t>(), bytes};
  const std::string where = fmt::format("{}: {} ({}:{})", label, code.at("name").get<std::string>(),
                                        code.at("filename").get<std::string>(), table.first_line);
  const size_t units = code.at("code_bytes").get<size_t>() / 2;
  ++counts.code_objects;

  Result<std::vector<LineRange>> ranges = DecodeLineRanges(table);
  ASSERT_TRUE(ranges.ok()) << where << ": " << ranges.status().message();
  const std::vector<std::optional<int32_t>> expected = LinesPerUnit(code.at("expected"), units);
  const std::vector<std::optional<int32_t>> decoded_ranges = DecodedLinesPerUnit(*ranges, units);
  const json& addr2line = code.at("addr2line");
  ASSERT_EQ(addr2line.size(), units) << where;

  Result<std::optional<int32_t>> negative = LineForInstruction(table, -1);
  ASSERT_TRUE(negative.ok()) << where;
  if (*negative != JsonLine(code.at("addr2line_negative"))) {
    ++counts.mismatches;
    ADD_FAILURE() << where << ": index -1 decoded " << LineText(*negative) << ", interpreter "
                  << code.at("addr2line_negative");
  }

  std::optional<int32_t> previous;
  for (size_t unit = 0; unit < units; ++unit) {
    ++counts.instructions;
    const int64_t index = format == LineTableFormat::kLnotab ? static_cast<int64_t>(unit * 2)
                                                             : static_cast<int64_t>(unit);
    Result<std::optional<int32_t>> looked_up = LineForInstruction(table, index);
    ASSERT_TRUE(looked_up.ok()) << where << ": " << looked_up.status().message();
    const std::optional<int32_t> from_addr2line = JsonLine(addr2line[unit]);
    if (*looked_up != expected[unit] || decoded_ranges[unit] != expected[unit] ||
        from_addr2line != expected[unit]) {
      if (++counts.mismatches <= kMaxReportedMismatches) {
        ADD_FAILURE() << where << ": byte " << unit * 2 << ": interpreter co_lines "
                      << LineText(expected[unit]) << ", PyCode_Addr2Line "
                      << LineText(from_addr2line) << ", decoded lookup " << LineText(*looked_up)
                      << ", decoded ranges " << LineText(decoded_ranges[unit]);
      }
    }
    if (expected[unit] && previous) {
      counts.largest_forward_jump =
          std::max(counts.largest_forward_jump, *expected[unit] - *previous);
      counts.largest_backward_jump =
          std::min(counts.largest_backward_jump, *expected[unit] - *previous);
    }
    if (expected[unit]) previous = expected[unit];
  }
}

TEST(InterpreterLineTableTest, DecoderAgreesWithEveryInterpreterOnEveryInstruction) {
  int checked_interpreters = 0;
  std::vector<int> checked_minors;
  for (const std::string& python : FindInterpreters()) {
    testing::TempDir dir;
    Result<json> dump = DumpCodeLines(python, dir.path());
    ASSERT_TRUE(dump.ok()) << dump.status().message();
    const json& version = dump->at("version");
    const int major = version[0].get<int>();
    const int minor = version[1].get<int>();
    const std::string label =
        fmt::format("{} ({}.{}.{})", python, major, minor, version[2].get<int>());
    Result<LineTableFormat> format = LineTableFormatForVersion(major, minor);
    if (!format.ok() || dump->at("codes").is_null()) {
      std::cout << label << ": not a supported version, skipped\n";
      continue;
    }
    Counts counts;
    for (const json& code : dump->at("codes")) {
      CheckCode(code, *format, label, counts);
      if (HasFatalFailure()) return;
    }
    std::cout << label << ": " << counts.code_objects << " code objects, " << counts.instructions
              << " instructions checked, " << counts.mismatches << " mismatches (line jumps up to +"
              << counts.largest_forward_jump << "/" << counts.largest_backward_jump << ")\n";
    EXPECT_EQ(counts.mismatches, 0) << label;
    // The samples must really exercise multi-entry jumps in both directions.
    EXPECT_GT(counts.largest_forward_jump, 255) << label;
    EXPECT_LT(counts.largest_backward_jump, -255) << label;
    ++checked_interpreters;
    checked_minors.push_back(minor);
  }
  // CI installs Debian sid's 3.14 and 3.15 (scripts/install-sid-pythons.sh): both must be checked.
  if (testing::RunningInCi()) {
    for (const int minor : {14, 15}) {
      EXPECT_NE(std::find(checked_minors.begin(), checked_minors.end(), minor),
                checked_minors.end())
          << "CI=true but CPython 3." << minor
          << " was not checked (scripts/install-sid-pythons.sh)";
    }
  }
  if (checked_interpreters == 0) {
    if (testing::RunningInCi()) {
      FAIL() << "CI=true but no CPython 3.8-3.13 found (PROFKIT_TEST_PYTHONS, "
             << testing::PyenvRoot() << "/versions, /usr/bin)";
    }
    GTEST_SKIP() << "no CPython 3.8-3.13 found (PROFKIT_TEST_PYTHONS, " << testing::PyenvRoot()
                 << "/versions, /usr/bin)";
  }
}

}  // namespace
}  // namespace profkit::python
