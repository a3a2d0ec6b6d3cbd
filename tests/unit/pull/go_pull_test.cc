// Pulls from a real Go program (tests/workloads/go/pprof_target, net/http/pprof) built with
// Debian's golang-go: every produced profile must parse and load in `go tool pprof`.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "profkit/profile/pprof_builder.h"
#include "profkit/pull/delta.h"
#include "profkit/pull/go_round.h"
#include "profkit/pull/pprof_fetch.h"
#include "testing/ci.h"
#include "testing/temp_dir.h"

namespace profkit::pull {

using config::GoProfileType;
using config::GoTarget;
using config::ValidateGoTarget;

namespace {

bool HaveGo() { return std::system("command -v go >/dev/null 2>&1") == 0; }

// The program's environment for `go`: everything in the test's directory, offline.
std::string GoEnv(const std::string& dir) {
  return "HOME=" + dir + " GOCACHE=" + dir + "/gocache GOPATH=" + dir +
         "/gopath GOFLAGS= GOPROXY=off GOTOOLCHAIN=local PPROF_TMPDIR=" + dir + " ";
}

class GoProgram {
 public:
  ~GoProgram() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Starts `binary`, reads its "port <n>" line.
  bool Start(const std::string& binary) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      execl(binary.c_str(), binary.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    FILE* out = fdopen(fds[0], "r");
    char line[64] = {};
    const bool got = fgets(line, sizeof line, out) != nullptr;
    fclose(out);
    return got && sscanf(line, "port %d", &port_) == 1;
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

class GoPullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveGo()) {
      if (profkit::testing::RunningInCi())
        FAIL() << "CI=true but `go` (Debian golang-go) is not installed";
      GTEST_SKIP() << "go is not installed";
    }
    binary_ = dir_.path() + "/pprof_target";
    const std::string build = "cd " PROFKIT_SOURCE_DIR "/tests/workloads/go/pprof_target && " +
                              GoEnv(dir_.path()) + "go build -o " + binary_ + " .";
    ASSERT_EQ(std::system(build.c_str()), 0) << build;
    ASSERT_TRUE(program_.Start(binary_));
  }

  bool LoadsInGoToolPprof(const std::string& name, const std::string& data) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << data;
    const std::string command =
        GoEnv(dir_.path()) + "go tool pprof -top " + path + " >" + path + ".top 2>&1";
    return std::system(command.c_str()) == 0;
  }

  profkit::testing::TempDir dir_;
  std::string binary_;
  GoProgram program_;
};

TEST_F(GoPullTest, TwoRoundsGiveLoadableProfilesAndTheRightGoroutineCount) {
  GoTarget target;
  target.url = "http://127.0.0.1:" + std::to_string(program_.port());
  target.service = "go-demo";
  target.enabled_types = {GoProfileType::kCpu,   GoProfileType::kHeap,  GoProfileType::kGoroutine,
                          GoProfileType::kMutex, GoProfileType::kBlock, GoProfileType::kAllocs};
  ASSERT_TRUE(ValidateGoTarget(target).ok());
  PprofFetcher fetcher(target, nullptr);
  DeltaState state;

  for (int round_number = 1; round_number <= 2; ++round_number) {
    SCOPED_TRACE("round " + std::to_string(round_number));
    RawRound round;
    FetchError error;
    ASSERT_TRUE(FetchRound(target, fetcher, std::chrono::seconds(1), &round, &error))
        << error.message;
    // Same connection, right after the goroutine profile: the same goroutines exist.
    std::string reported;
    ASSERT_TRUE(fetcher.Get("/goroutines", std::chrono::seconds(5), &reported, &error))
        << error.message;
    auto result = state.Process(target, round);
    ASSERT_TRUE(result.ok()) << result.status().message();
    ASSERT_TRUE(result->num_goroutine.has_value());
    EXPECT_EQ(*result->num_goroutine, std::stoll(reported));

    std::vector<std::string> names;
    for (const auto& attachment : result->upload.attachments) {
      names.push_back(attachment.name);
      auto parsed = profile::ParsePprof(attachment.data, kMaxDecompressedProfileBytes);
      ASSERT_TRUE(parsed.ok()) << attachment.name << ": " << parsed.status().message();
      EXPECT_TRUE(LoadsInGoToolPprof(attachment.name, attachment.data)) << attachment.name;
      for (const GoProfileType type : target.enabled_types) {
        if (AttachmentName(type) != attachment.name) continue;
        const std::vector<std::string> delta_types = DeltaSampleTypes(type);
        for (int i = 0; i < parsed->sample_type_size(); ++i) {
          const std::string& type_name = parsed->string_table(parsed->sample_type(i).type());
          if (std::find(delta_types.begin(), delta_types.end(), type_name) == delta_types.end()) {
            continue;
          }
          for (const auto& sample : parsed->sample()) {
            EXPECT_GE(sample.value(i), 0) << attachment.name << " " << type_name;
          }
        }
      }
    }
    if (round_number == 1) {
      EXPECT_EQ(names, (std::vector<std::string>{"cpu.pprof", "goroutines.pprof"}));
    } else {
      EXPECT_EQ(names, (std::vector<std::string>{"cpu.pprof", "delta-heap.pprof",
                                                 "goroutines.pprof", "delta-mutex.pprof",
                                                 "delta-block.pprof", "delta-allocs.pprof"}));
      EXPECT_EQ(result->delta_stats.clamped_samples, 0);
    }
  }
}

}  // namespace
}  // namespace profkit::pull
