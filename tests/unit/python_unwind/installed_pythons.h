// The CPython interpreters installed on this machine: pyenv builds
// (/root/.pyenv/versions/3.X.Y/bin/python3.X), Debian's /usr/bin/python3.X, and Debian sid's
// 3.14/3.15 flavours made by scripts/install-sid-pythons.sh (listed in its interpreters.txt).
#pragma once

#include <stdio.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace profkit::python::testing {

inline std::vector<std::string> InstalledPythons(int minor) {
  namespace fs = std::filesystem;
  std::vector<std::string> found;
  const std::string exe = "python3." + std::to_string(minor);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/root/.pyenv/versions", ec)) {
    const std::string name = entry.path().filename().string();
    const fs::path python = entry.path() / "bin" / exe;
    if (name.starts_with("3." + std::to_string(minor) + ".") && fs::exists(python, ec)) {
      found.push_back(python.string());
    }
  }
  if (fs::exists("/usr/bin/" + exe, ec)) found.push_back("/usr/bin/" + exe);
  const char* sid_root = std::getenv("PROFKIT_SID_PYTHON_ROOT");
  std::ifstream list(std::string(sid_root ? sid_root : "/var/cache/profkit/sid-python") +
                     "/interpreters.txt");
  std::string version, flavour, path, full_version;  // one "3.14 static <path> 3.14.10" per line
  while (list >> version >> flavour >> path >> full_version) {
    if (version == "3." + std::to_string(minor) && fs::exists(path, ec)) found.push_back(path);
  }
  return found;
}

// Under CI every expected interpreter must be present (a missing one fails the test instead of
// silently skipping it).
inline bool RunningInCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

struct CommandOutput {
  int exit_code = -1;
  std::string text;  // stdout only
};

inline CommandOutput RunCommand(const std::string& command) {
  CommandOutput result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.text.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace profkit::python::testing
