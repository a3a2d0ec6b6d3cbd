#include "profkit/process/proc_fs.h"
#include "testing/temp_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace profkit::process {
namespace {

using namespace std::string_literals;
using ::testing::ElementsAre;

class ProcFsTest : public ::testing::Test {
 protected:
  void Write(const std::string& relative, const std::string& content) {
    const std::filesystem::path path = std::filesystem::path(root_) / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
  }
  void Symlink(const std::string& relative, const std::string& target) {
    const std::filesystem::path path = std::filesystem::path(root_) / relative;
    std::filesystem::create_directories(path.parent_path());
    std::filesystem::create_symlink(target, path);
  }

  testing::TempDir temp_dir_;
  const std::string root_ = temp_dir_.path();
};

TEST_F(ProcFsTest, ReadsAProcessFromAFakeTree) {
  Write("1234/maps", "400000-401000 r-xp 00000000 08:01 42 /usr/bin/app\n"
                     "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 \n");
  Write("1234/stat", "1234 (app) S 1 1234 1234 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n");
  Write("1234/environ", "SECRET=x\0DD_SERVICE=web\0DD_ENV=prod\0"s);
  Symlink("1234/exe", "/usr/bin/app (deleted)");
  Write("1234/task/1235/comm", "worker-1\n");
  const ProcFs fs(root_);
  EXPECT_EQ(fs.root(), root_);

  Result<std::vector<MemoryMapping>> maps = fs.ReadMaps(1234);
  ASSERT_TRUE(maps.ok()) << maps.status().message();
  ASSERT_EQ(maps->size(), 2u);
  EXPECT_EQ((*maps)[0].path, "/usr/bin/app");
  EXPECT_EQ((*maps)[1].path, "");

  Result<ProcessStat> stat = fs.ReadStat(1234);
  ASSERT_TRUE(stat.ok()) << stat.status().message();
  EXPECT_EQ(stat->comm, "app");
  EXPECT_EQ(stat->start_time_ticks, 777u);

  Result<ServiceEnvironment> env = fs.ReadServiceEnvironment(1234);
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(env->dd_service, "web");
  EXPECT_EQ(env->dd_env, "prod");
  EXPECT_FALSE(env->dd_version.has_value());

  Result<std::string> exe = fs.ReadExecutablePath(1234);
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  EXPECT_EQ(*exe, "/usr/bin/app");

  Result<std::string> thread = fs.ReadThreadName(1234, 1235);
  ASSERT_TRUE(thread.ok()) << thread.status().message();
  EXPECT_EQ(*thread, "worker-1");

  EXPECT_EQ(fs.MapFilesPath(1234, (*maps)[1]), root_ + "/1234/map_files/7f0000000000-7f0000001000");
  EXPECT_EQ(fs.RootPath(1234, "/usr/lib/libc.so.6"), root_ + "/1234/root/usr/lib/libc.so.6");
  EXPECT_EQ(ProcFs().root(), "/proc");
  EXPECT_EQ(ProcFs().RootPath(7, "/x"), "/proc/7/root/x");
}

TEST_F(ProcFsTest, ErrorsNameThePath) {
  Write("5/maps", "1000-2000 r-xp 00000000 08:01 5 /bin/x\nbroken\n");
  Write("5/stat", "garbage");
  const ProcFs fs(root_);
  EXPECT_EQ(fs.ReadMaps(5).status().message(),
            "parsing " + root_ + "/5/maps: line 2: bad address range \"broken\"");
  EXPECT_EQ(fs.ReadStat(5).status().message(),
            "parsing " + root_ + "/5/stat: expected \"pid (comm) state ...\"");
  EXPECT_EQ(fs.ReadStat(6).status().message(),
            "open " + root_ + "/6/stat: No such file or directory");
  EXPECT_EQ(fs.ReadExecutablePath(6).status().message(),
            "readlink " + root_ + "/6/exe: No such file or directory");
  EXPECT_FALSE(fs.ReadThreadName(5, 9).ok());
  EXPECT_FALSE(fs.ReadServiceEnvironment(6).ok());
}

TEST_F(ProcFsTest, OversizedFilesAreBounded) {
  Write("8/stat", std::string(kMaxStatBytes + 1, '1'));
  Write("8/task/8/comm", std::string(kMaxCommBytes * 2, 'c'));
  const ProcFs fs(root_);
  EXPECT_FALSE(fs.ReadStat(8).ok());
  EXPECT_EQ(fs.ReadThreadName(8, 8)->size(), kMaxCommBytes);
}

TEST_F(ProcFsTest, EnvironCutAtTheLastCompleteVariable) {
  // DD_ENV is complete within the limit; DD_SERVICE straddles it and must not be half-read.
  const std::string head = "DD_ENV=prod\0"s;
  const std::string filler =
      "F=" + std::string(kMaxEnvironBytes - head.size() - 2 - 5, 'x') + "\0"s;
  Write("9/environ", head + filler + "DD_SERVICE=cut-in-the-middle\0"s);
  const ProcFs fs(root_);
  ASSERT_EQ(fs.environ_truncated(), 0u);
  Result<ServiceEnvironment> env = fs.ReadServiceEnvironment(9);
  ASSERT_TRUE(env.ok()) << env.status().message();
  EXPECT_EQ(env->dd_env, "prod");
  EXPECT_FALSE(env->dd_service.has_value());
  EXPECT_EQ(fs.environ_truncated(), 1u);

  // Exactly at the limit is not truncated.
  Write("10/environ", std::string(kMaxEnvironBytes - "DD_ENV=a\0"s.size(), '\0') + "DD_ENV=a\0"s);
  EXPECT_EQ(fs.ReadServiceEnvironment(10)->dd_env, "a");
  EXPECT_EQ(fs.environ_truncated(), 1u);
}

TEST_F(ProcFsTest, ListPidsReturnsNumericEntriesAscending) {
  Write("300/stat", "");
  Write("12/stat", "");
  Write("self/stat", "");
  Write("1x/stat", "");
  Write("0/stat", "");
  Write("99999999999/stat", "");
  Write("meminfo", "");
  EXPECT_THAT(ProcFs(root_).ListPids(), ElementsAre(12u, 300u));
  EXPECT_TRUE(ProcFs(root_ + "/missing").ListPids().empty());
}

TEST(ProcFsRealTest, ReadsItself) {
  const ProcFs fs;
  const auto pid = static_cast<uint32_t>(getpid());
  Result<ProcessStat> stat = fs.ReadStat(pid);
  ASSERT_TRUE(stat.ok()) << stat.status().message();
  EXPECT_EQ(stat->pid, pid);
  Result<std::vector<MemoryMapping>> maps = fs.ReadMaps(pid);
  ASSERT_TRUE(maps.ok()) << maps.status().message();
  EXPECT_FALSE(maps->empty());
  EXPECT_THAT(fs.ListPids(), ::testing::Contains(pid));
}

}  // namespace
}  // namespace profkit::process
