// Runs a shell command and collects what it prints: for tests that ask a tool or an interpreter
// for the expected answer (readelf, python3.X-config, python -c ...).
#pragma once

#include <stdio.h>
#include <sys/wait.h>

#include <string>

namespace profkit::testing {

struct CommandOutput {
  int exit_code = -1;  // -1 when the command could not be started or was killed by a signal
  std::string text;    // stdout only; append " 2>&1" to the command to include stderr
};

// Runs `command` with /bin/sh -c and waits for it to finish.
inline CommandOutput RunCommand(const std::string& command) {
  CommandOutput result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.text.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace profkit::testing
