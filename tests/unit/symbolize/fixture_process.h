// Helpers for symbolize tests: /proc/PID/maps lookups, fixture processes, marked source lines.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "profkit/symbolize/native_symbolizer.h"

namespace profkit::symbolize::testing {

struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t pgoff = 0;
  ModuleKey key;
  std::string path;

  uint64_t FileOffset(uint64_t address) const { return address - start + pgoff; }
  std::string MapFilesPath(pid_t pid) const;
};

// The file-backed mapping of `pid` (0: this process) containing `address`; fails the test if none.
Mapping FindMapping(pid_t pid, uint64_t address);

// Line number of the "MARK:<name>" comment in tests/data/symbolize/<file>.
int64_t MarkedLine(const std::string& file, const std::string& name);

// Standard output of a shell command; fails the test unless it exits 0.
std::string CommandOutput(const std::string& command);

// "Build ID: ..." as readelf -n prints it, "" without one.
std::string ReadelfBuildId(const std::string& path);

// Runs a fixture_main.c binary until destroyed; `addresses` holds what it printed
// ("leaf" → &fixture_leaf, "return" → a return address inside the inlined call).
class FixtureProcess {
 public:
  explicit FixtureProcess(const std::string& path);
  ~FixtureProcess();
  FixtureProcess(const FixtureProcess&) = delete;
  FixtureProcess& operator=(const FixtureProcess&) = delete;

  pid_t pid() const { return pid_; }
  uint64_t address(const std::string& name) const { return addresses_.at(name); }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::map<std::string, uint64_t> addresses_;
};

}  // namespace profkit::symbolize::testing
