// The CPython interpreters the Python tests run against, so no test hard-codes where they live:
//   1. every path in PROFKIT_TEST_PYTHONS (colon-separated interpreter executables, e.g. builds in
//      a private root such as /var/cache/profkit/sid-python/3.15-nopie/bin/python3.15);
//   2. Debian sid's 3.14/3.15 flavours made by scripts/install-sid-pythons.sh, listed in
//      $PROFKIT_SID_PYTHON_ROOT/interpreters.txt (default root /var/cache/profkit/sid-python);
//   3. the pyenv builds $PYENV_ROOT/versions/3.X.Y/bin/python3.X ($PYENV_ROOT defaults to
//      /root/.pyenv);
//   4. the distribution's /usr/bin/python3.X (Debian 12: python3.11).
// A path listed in PROFKIT_TEST_PYTHONS that is not an executable fails the test: it was asked for.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "testing/command.h"

namespace profkit::testing {

struct TestPython {
  std::string path;  // the executable
  int minor = 0;     // 3.<minor>
};

namespace internal {

// 11 of ".../python3.11", nullopt for a name without the minor version (".../python3").
inline std::optional<int> MinorFromName(const std::filesystem::path& path) {
  static const std::regex kName(R"(python3\.(\d+))");
  std::smatch match;
  const std::string name = path.filename().string();
  if (!std::regex_match(name, match, kName)) return std::nullopt;
  return std::stoi(match[1].str());
}

// Asks the interpreter itself, for a listed path whose name does not say.
inline std::optional<int> MinorFromInterpreter(const std::string& python) {
  const CommandOutput out =
      RunCommand("'" + python + "' -I -c 'import sys; print(sys.version_info[1])' 2>/dev/null");
  if (out.exit_code != 0 || out.text.empty()) return std::nullopt;
  return std::atoi(out.text.c_str());
}

inline bool IsExecutable(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && access(path.c_str(), X_OK) == 0;
}

inline std::vector<std::filesystem::path> SortedEntries(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> entries;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    entries.push_back(entry.path());
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

}  // namespace internal

inline std::string SidPythonRoot() {
  const char* root = std::getenv("PROFKIT_SID_PYTHON_ROOT");
  return root != nullptr && *root != '\0' ? root : "/var/cache/profkit/sid-python";
}

inline std::string PyenvRoot() {
  const char* root = std::getenv("PYENV_ROOT");
  return root != nullptr && *root != '\0' ? root : "/root/.pyenv";
}

// Every interpreter found, in the order above, each executable once.
inline std::vector<TestPython> TestPythons() {
  namespace fs = std::filesystem;
  std::vector<TestPython> found;
  std::set<std::string> seen;  // canonical paths: a listed interpreter may also be found below
  const auto add = [&](const fs::path& python, std::optional<int> minor) {
    std::error_code ec;
    const std::string canonical = fs::weakly_canonical(python, ec).string();
    if (!minor || !seen.insert(ec ? python.string() : canonical).second) return;
    found.push_back({python.string(), *minor});
  };

  if (const char* listed = std::getenv("PROFKIT_TEST_PYTHONS")) {
    std::string_view rest = listed;
    while (!rest.empty()) {
      const size_t colon = rest.find(':');
      const std::string path(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
      if (path.empty()) continue;
      if (!internal::IsExecutable(path)) {
        ADD_FAILURE() << "PROFKIT_TEST_PYTHONS lists " << path << ", which is not an executable";
        continue;
      }
      std::optional<int> minor = internal::MinorFromName(path);
      if (!minor) minor = internal::MinorFromInterpreter(path);
      if (!minor) ADD_FAILURE() << "PROFKIT_TEST_PYTHONS: " << path << " did not report a version";
      add(path, minor);
    }
  }

  std::ifstream sid_list(SidPythonRoot() + "/interpreters.txt");
  std::string version, flavour, path, full_version;  // "3.14 static <path> 3.14.10" per line
  while (sid_list >> version >> flavour >> path >> full_version) {
    if (internal::IsExecutable(path)) add(path, internal::MinorFromName(path));
  }

  static const std::regex kPyenvVersion(R"(3\.(\d+)\..*)");
  for (const fs::path& version : internal::SortedEntries(fs::path(PyenvRoot()) / "versions")) {
    std::smatch match;
    const std::string name = version.filename().string();
    if (!std::regex_match(name, match, kPyenvVersion)) continue;
    const fs::path python = version / "bin" / ("python3." + match[1].str());
    if (internal::IsExecutable(python)) add(python, std::stoi(match[1].str()));
  }

  for (const fs::path& python : internal::SortedEntries("/usr/bin")) {
    const std::optional<int> minor = internal::MinorFromName(python);
    if (minor && internal::IsExecutable(python)) add(python, minor);
  }
  return found;
}

// The interpreters of one minor version.
inline std::vector<std::string> InstalledPythons(int minor) {
  std::vector<std::string> paths;
  for (const TestPython& python : TestPythons()) {
    if (python.minor == minor) paths.push_back(python.path);
  }
  return paths;
}

}  // namespace profkit::testing
