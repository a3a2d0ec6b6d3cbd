#include "profkit/pipeline/process_table.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "profkit/common/file_util.h"
#include "testing/temp_dir.h"

namespace profkit::pipeline {
namespace {

namespace fs = std::filesystem;
constexpr ProcessTable::IpSource kInterrupted = ProcessTable::IpSource::kRegisters;
constexpr ProcessTable::IpSource kWalked = ProcessTable::IpSource::kStackWalk;

// A fake /proc with processes whose single executable mapping is this test binary, reached through
// <root>/<pid>/root -> "/" the way a process's root directory is reached on a real host.
class ProcessTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    self_exe_ = fs::read_symlink("/proc/self/exe").string();
    struct stat st {};
    ASSERT_EQ(stat(self_exe_.c_str(), &st), 0);
    self_dev_major_ = major(st.st_dev);
    self_dev_minor_ = minor(st.st_dev);
    self_inode_ = st.st_ino;
  }

  void AddProcess(uint32_t pid, uint32_t ppid, const std::string& comm,
                  const std::string& environ) {
    const std::string dir = root_ + "/" + std::to_string(pid);
    ASSERT_TRUE(MakeDirectories(dir).ok());
    Write(dir + "/stat", std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) +
                             " 1 1 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 1 0 12345 1000000 100");
    Write(dir + "/environ", environ);
    Write(dir + "/maps",
          fmt::format("{:x}-{:x} r-xp 00001000 {:02x}:{:02x} {} {}\n", kMapStart, kMapEnd,
                      self_dev_major_, self_dev_minor_, self_inode_, self_exe_));
    fs::create_symlink(self_exe_, dir + "/exe");
    fs::create_symlink("/", dir + "/root");
  }

  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }

  static constexpr uint64_t kMapStart = 0x555500001000;
  static constexpr uint64_t kMapEnd = 0x555500100000;
  testing::TempDir temp_dir_;
  const std::string root_ = temp_dir_.path();
  std::string self_exe_;
  unsigned self_dev_major_ = 0, self_dev_minor_ = 0;
  uint64_t self_inode_ = 0;
};

TEST_F(ProcessTableTest, IdentityFromEnvironmentAndExecutable) {
  AddProcess(100, 1, "api", std::string("DD_SERVICE=checkout\0DD_ENV=prod\0SECRET=x\0", 41));
  AddProcess(101, 1, "worker", std::string("PATH=/bin\0", 10));
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {.default_env = "dev"});

  ProcessTable::Process* api = table.Get(100);
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->identity.service, "checkout");
  EXPECT_EQ(api->identity.env, "prod");
  ProcessTable::Process* worker = table.Get(101);
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ(worker->identity.service, fs::path(self_exe_).filename().string());
  EXPECT_EQ(worker->identity.env, "dev");
  EXPECT_EQ(table.Get(999), nullptr) << "a pid neither announced nor in /proc is gone";
}

TEST_F(ProcessTableTest, UserFramesBecomeModuleOffsets) {
  AddProcess(100, 1, "api", "");
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {});
  ProcessTable::Process* process = table.Get(100);
  ASSERT_NE(process, nullptr);

  const profile::Frame frame = table.ResolveUserFrame(*process, kMapStart + 0x10, true, kWalked);
  EXPECT_EQ(frame.kind, profile::FrameKind::kNative);
  ASSERT_NE(frame.module_id, profile::kUnknownModule);
  EXPECT_EQ(frame.address, 0x1010u) << "ip - map start + map file offset";
  EXPECT_TRUE(frame.is_return_address);
  ASSERT_NE(symbolizer.Module(frame.module_id), nullptr);
  EXPECT_EQ(symbolizer.Module(frame.module_id)->path, self_exe_);

  const profile::Frame outside = table.ResolveUserFrame(*process, 0x10, false, kInterrupted);
  EXPECT_EQ(outside.module_id, profile::kUnknownModule);
  EXPECT_EQ(outside.address, 0x10u);
  EXPECT_EQ(table.counters().unmapped_frames, 1u);
}

TEST_F(ProcessTableTest, ExitedProcessesAndTheirModulesAreReleasedAfterFlush) {
  AddProcess(100, 1, "a", "");
  AddProcess(101, 1, "b", "");
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {});
  const uint32_t module =
      table.ResolveUserFrame(*table.Get(100), kMapStart, false, kInterrupted).module_id;
  EXPECT_EQ(table.ResolveUserFrame(*table.Get(101), kMapStart, false, kInterrupted).module_id,
            module)
      << "one module for one file, however many processes map it";

  table.OnExit(100);
  table.CollectExited(table.EndInterval());
  EXPECT_EQ(table.counters().processes, 1u);
  EXPECT_NE(symbolizer.Module(module), nullptr) << "process 101 still maps it";

  table.OnExit(101);
  EXPECT_NE(symbolizer.Module(module), nullptr)
      << "samples taken before the exit are not flushed yet";
  table.CollectExited(table.EndInterval());
  EXPECT_EQ(table.counters().processes, 0u);
  EXPECT_EQ(symbolizer.Module(module), nullptr);
  EXPECT_EQ(symbolizer.counters().modules, 0u);
}

TEST_F(ProcessTableTest, ChurnOfShortLivedProcessesLeavesNothing) {
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {.max_processes = 1000});
  for (uint32_t round = 0; round < 20; ++round) {
    for (uint32_t pid = 1000; pid < 1900; ++pid) {
      table.OnFork(pid, 1, "sh");
      table.OnExec(pid, 1, "true");
      table.OnExit(pid);
    }
    table.CollectExited(table.EndInterval());
    EXPECT_EQ(table.counters().processes, 0u);
  }
  EXPECT_EQ(table.counters().table_full, 0u);
  EXPECT_EQ(table.counters().collected, 20u * 900u);
}

TEST_F(ProcessTableTest, ExecReadsNothingUntilTheProgramsFirstSample) {
  AddProcess(100, 1, "job", "DD_SERVICE=batch");
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {});
  table.OnExec(100, 1, "job");
  // A storm of programs that exit before any sample: none is looked up in /proc.
  for (uint32_t pid = 1000; pid < 1100; ++pid) {
    table.OnFork(pid, 1, "sh");
    table.OnExec(pid, 1, "true");
    table.OnExit(pid);
  }
  EXPECT_EQ(table.counters().proc_read_failures, 0u);
  ProcessTable::Process* process = table.Get(100);
  ASSERT_NE(process, nullptr);
  EXPECT_EQ(process->identity.service, "batch");
  EXPECT_NE(table.ResolveUserFrame(*process, kMapStart + 0x10, false, kInterrupted).module_id,
            profile::kUnknownModule);
  EXPECT_EQ(table.counters().proc_read_failures, 0u);
}

TEST_F(ProcessTableTest, OnlyAnInterruptedOrUnwoundIpRereadsTheMappingsOfANewProgram) {
  AddProcess(100, 1, "python3", "");
  const std::string maps = root_ + "/100/maps";
  Write(maps, "");  // at exec only the dynamic loader has mapped anything
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {});
  table.OnExec(100, 1, "python3");
  ProcessTable::Process* process = table.Get(100);
  ASSERT_NE(process, nullptr);
  // The loader's frames have no frame pointers: the walk reads data as return addresses.
  EXPECT_EQ(table.ResolveUserFrame(*process, kMapStart + 0x10, true, kWalked).module_id,
            profile::kUnknownModule);
  EXPECT_EQ(table.counters().maps_refreshes, 0u);
  Write(maps, fmt::format("{:x}-{:x} r-xp 00001000 {:02x}:{:02x} {} {}\n", kMapStart, kMapEnd,
                          self_dev_major_, self_dev_minor_, self_inode_, self_exe_));
  EXPECT_NE(table.ResolveUserFrame(*process, kMapStart + 0x10, false, kInterrupted).module_id,
            profile::kUnknownModule)
      << "the library the program now runs in is found at once, not after the refresh interval";
  EXPECT_EQ(table.counters().maps_refreshes, 1u);
}

TEST_F(ProcessTableTest, AReturnAddressFromTheUnwinderRereadsTheMappings) {
  AddProcess(100, 1, "loop", "");
  const std::string maps = root_ + "/100/maps";
  Write(maps, "");
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {});
  table.OnExec(100, 1, "loop");
  ProcessTable::Process* process = table.Get(100);
  ASSERT_NE(process, nullptr);
  // The leaf stays in the program's own loop: its libc caller (mapped after exec) only ever
  // appears as a return address, found through the CFI of main.
  Write(maps, fmt::format("{:x}-{:x} r-xp 00001000 {:02x}:{:02x} {} {}\n", kMapStart, kMapEnd,
                          self_dev_major_, self_dev_minor_, self_inode_, self_exe_));
  EXPECT_NE(
      table.ResolveUserFrame(*process, kMapStart + 0x10, true, ProcessTable::IpSource::kUnwound)
          .module_id,
      profile::kUnknownModule);
  EXPECT_EQ(table.counters().maps_refreshes, 1u);
}

TEST_F(ProcessTableTest, ARereadThatFindsNewCodeLetsTheNextComeAtOnce) {
  AddProcess(100, 1, "python3", "");
  const std::string maps = root_ + "/100/maps";
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {.maps_refresh_interval_ns = 3'600'000'000'000});
  table.OnExec(100, 1, "python3");
  ProcessTable::Process* process = table.Get(100);
  ASSERT_NE(process, nullptr);
  // Python imports numpy: one library after another is mapped, each found by a re-read.
  const auto mapping = [&](uint64_t start) {
    return fmt::format("{:x}-{:x} r-xp 00001000 {:02x}:{:02x} {} {}\n", start,
                       start + (kMapEnd - kMapStart), self_dev_major_, self_dev_minor_, self_inode_,
                       self_exe_);
  };
  const uint64_t second = kMapEnd + 0x100000, third = second + 0x200000;
  Write(maps, mapping(kMapStart) + mapping(second));
  EXPECT_NE(table.ResolveUserFrame(*process, second + 0x10, false, kInterrupted).module_id,
            profile::kUnknownModule);
  Write(maps, mapping(kMapStart) + mapping(second) + mapping(third));
  EXPECT_NE(table.ResolveUserFrame(*process, third + 0x10, false, kInterrupted).module_id,
            profile::kUnknownModule)
      << "the second library is found at once, not after the refresh interval";
  EXPECT_EQ(table.counters().maps_refreshes, 2u);
  // An address in no mapping (JIT code, a garbage return address): one re-read that finds
  // nothing, then none until the interval has passed.
  const uint64_t nowhere = third + 0x10000000;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(
        table.ResolveUserFrame(*process, nowhere, true, ProcessTable::IpSource::kUnwound).module_id,
        profile::kUnknownModule);
  }
  EXPECT_EQ(table.counters().maps_refreshes, 3u);
}

TEST_F(ProcessTableTest, TableIsBounded) {
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {.max_processes = 10});
  for (uint32_t pid = 1000; pid < 1020; ++pid) table.OnFork(pid, 1, "sh");
  EXPECT_EQ(table.counters().processes, 10u);
  EXPECT_EQ(table.counters().table_full, 10u);
}

TEST_F(ProcessTableTest, ExecForgetsTheOldImage) {
  AddProcess(100, 1, "sh", "DD_SERVICE=before");
  process::ProcFs proc_fs(root_);
  symbolize::NativeSymbolizer symbolizer;
  ProcessTable table(proc_fs, symbolizer, {});
  EXPECT_EQ(table.Get(100)->identity.service, "before");
  Write(root_ + "/100/environ", "DD_SERVICE=after");
  table.OnExec(100, 1, "app");
  EXPECT_EQ(table.Get(100)->identity.service, "after");
  EXPECT_EQ(table.ParentOf(100), 1u);
}

}  // namespace
}  // namespace profkit::pipeline
