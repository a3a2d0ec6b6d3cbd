#include "fixture_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "testing/command.h"

extern char** environ;

namespace profkit::symbolize::testing {

std::string Mapping::MapFilesPath(pid_t pid) const {
  char range[64];
  snprintf(range, sizeof(range), "%lx-%lx", static_cast<unsigned long>(start),
           static_cast<unsigned long>(end));
  return "/proc/" + std::to_string(pid) + "/map_files/" + range;
}

Mapping FindMapping(pid_t pid, uint64_t address) {
  const std::string maps = pid == 0 ? "/proc/self/maps" : "/proc/" + std::to_string(pid) + "/maps";
  std::ifstream in(maps);
  std::string line;
  while (std::getline(in, line)) {
    unsigned long start = 0, end = 0, pgoff = 0, inode = 0;
    unsigned major = 0, minor = 0;
    char perms[8] = {};
    int consumed = 0;
    if (sscanf(line.c_str(), "%lx-%lx %7s %lx %x:%x %lu %n", &start, &end, perms, &pgoff, &major,
               &minor, &inode, &consumed) < 7) {
      continue;
    }
    if (address < start || address >= end || inode == 0) continue;
    Mapping m;
    m.start = start;
    m.end = end;
    m.pgoff = pgoff;
    m.key = {makedev(major, minor), inode};
    m.path = line.substr(static_cast<size_t>(consumed));
    return m;
  }
  ADD_FAILURE() << "no file mapping of " << std::hex << address << " in " << maps;
  return {};
}

int64_t MarkedLine(const std::string& file, const std::string& name) {
  std::ifstream in(std::string(FIXTURE_SOURCE_DIR) + "/" + file);
  const std::string marker = "MARK:" + name;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    const size_t at = line.find(marker);
    if (at != std::string::npos && at + marker.size() == line.size()) return number;
  }
  ADD_FAILURE() << marker << " not found in " << file;
  return -1;
}

std::string CommandOutput(const std::string& command) {
  profkit::testing::CommandOutput output = profkit::testing::RunCommand(command);
  EXPECT_EQ(output.exit_code, 0) << command;
  return std::move(output.text);
}

std::string ReadelfBuildId(const std::string& path) {
  const std::string output = CommandOutput(std::string(READELF_PATH) + " -n '" + path + "'");
  const std::string label = "Build ID: ";
  const size_t at = output.find(label);
  if (at == std::string::npos) return "";
  std::istringstream rest(output.substr(at + label.size()));
  std::string id;
  rest >> id;
  return id;
}

FixtureProcess::FixtureProcess(const std::string& path) {
  int to_child[2];
  int from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe";
    return;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
  posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  const int err = posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(to_child[0]);
  close(from_child[1]);
  stdin_fd_ = to_child[1];
  if (err != 0) {
    pid_ = -1;
    close(from_child[0]);
    ADD_FAILURE() << "spawn " << path << ": " << strerror(err);
    return;
  }
  // The fixture prints its two lines, flushes, then blocks on stdin: reading to the second line
  // is the synchronization.
  FILE* out = fdopen(from_child[0], "r");
  char line[256];
  while (addresses_.size() < 2 && fgets(line, sizeof(line), out) != nullptr) {
    char name[32];
    unsigned long value = 0;
    if (sscanf(line, "%31s %lx", name, &value) == 2) addresses_[name] = value;
  }
  fclose(out);
  EXPECT_EQ(addresses_.size(), 2u) << path << " did not print its addresses";
}

FixtureProcess::~FixtureProcess() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (pid_ > 0) {
    int status = 0;
    waitpid(pid_, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
}

}  // namespace profkit::symbolize::testing
