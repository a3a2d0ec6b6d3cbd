// A fake /proc (a ProcFs root) whose processes map this test binary's code exactly where it is
// mapped in the test process, so IPs of the test's own functions symbolize to their real names
// (the ELF file is the oracle). <root>/<pid>/root -> "/" as on a real host.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "profkit/common/file_util.h"
#include "profkit/process/proc_fs.h"
#include "testing/temp_dir.h"

namespace profkit::testing {

class SelfProcessTree {
 public:
  SelfProcessTree() : self_exe_(std::filesystem::read_symlink("/proc/self/exe").string()) {
    auto maps = ReadFileBounded("/proc/self/maps", process::kMaxMapsBytes);
    if (maps.ok()) {
      for (size_t at = 0; at < maps->size();) {
        const size_t end = maps->find('\n', at);
        const std::string line = maps->substr(at, end - at);
        if (line.find(" r-xp ") != std::string::npos && line.ends_with(" " + self_exe_)) {
          code_mapping_ = line + "\n";
        }
        at = end == std::string::npos ? maps->size() : end + 1;
      }
    }
  }

  const std::string& root() const { return dir_.path(); }
  bool ok() const { return !code_mapping_.empty(); }

  void AddProcess(uint32_t pid, uint32_t ppid, const std::string& comm,
                  const std::string& environ = "") const {
    const std::string dir = fmt::format("{}/{}", root(), pid);
    (void)MakeDirectories(dir);
    Write(dir + "/stat", fmt::format("{} ({}) S {} 1 1 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 1 0 "
                                     "12345 1000000 100",
                                     pid, comm, ppid));
    Write(dir + "/environ", environ);
    Write(dir + "/maps", code_mapping_);
    std::filesystem::create_symlink(self_exe_, dir + "/exe");
    std::filesystem::create_symlink("/", dir + "/root");
    // map_files/<start>-<end>, where the unwind table builder opens a mapping's file.
    (void)MakeDirectories(dir + "/map_files");
    const std::string range = code_mapping_.substr(0, code_mapping_.find(' '));
    std::filesystem::create_symlink(self_exe_, dir + "/map_files/" + range);
  }
  // A process running `exe` with the given /proc/PID/maps text and NUL-separated command line.
  void AddProgram(uint32_t pid, const std::string& comm, const std::string& exe,
                  const std::string& maps, const std::string& cmdline) const {
    const std::string dir = fmt::format("{}/{}", root(), pid);
    (void)MakeDirectories(dir);
    Write(dir + "/stat", fmt::format("{} ({}) S 1 1 1 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 1 0 "
                                     "12345 1000000 100",
                                     pid, comm));
    Write(dir + "/environ", "");
    Write(dir + "/maps", maps);
    Write(dir + "/cmdline", cmdline);
    std::filesystem::create_symlink(exe, dir + "/exe");
    std::filesystem::create_symlink("/", dir + "/root");
  }
  void RemoveProcess(uint32_t pid) const {
    std::filesystem::remove_all(fmt::format("{}/{}", root(), pid));
  }

 private:
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }

  TempDir dir_;
  std::string self_exe_;
  std::string code_mapping_;
};

}  // namespace profkit::testing
