#include "profkit/record/recorder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "profkit/common/clock.h"
#include "profkit/common/file_util.h"
#include "profkit/common/log.h"
#include "profkit/pipeline/sample_pipeline.h"
#include "profkit/record/target_filter.h"
#include "profkit/sampling/bpf_sampler.h"

namespace profkit::record {
namespace {

constexpr std::chrono::milliseconds kPollTimeout{100};

// The command is forked first and held on a pipe until sampling runs, so its first instructions
// are profiled; a second, close-on-exec pipe reports an exec failure back to us.
class ChildProcess {
 public:
  static Result<ChildProcess> Spawn(const std::vector<std::string>& command) {
    int release[2];
    int exec_error[2];
    if (pipe2(release, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
    if (pipe2(exec_error, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
    const pid_t pid = fork();
    if (pid < 0) return Status::FromErrno("fork", errno);
    if (pid == 0) {
      close(release[1]);
      close(exec_error[0]);
      char go = 0;
      if (read(release[0], &go, 1) != 1) _exit(127);
      std::vector<char*> argv;
      for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      const int err = errno;
      (void)!write(exec_error[1], &err, sizeof(err));
      _exit(127);
    }
    close(release[0]);
    close(exec_error[1]);
    return ChildProcess(pid, release[1], exec_error[0], command.front());
  }

  ChildProcess(ChildProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        release_fd_(std::exchange(other.release_fd_, -1)),
        exec_error_fd_(std::exchange(other.exec_error_fd_, -1)),
        name_(std::move(other.name_)) {}
  ChildProcess& operator=(ChildProcess&&) = delete;

  ~ChildProcess() {
    if (release_fd_ >= 0) close(release_fd_);
    if (exec_error_fd_ >= 0) close(exec_error_fd_);
    if (pid_ > 0 && !exit_status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  Status Release() {
    const char go = 1;
    if (write(release_fd_, &go, 1) != 1) return Status::FromErrno("starting the command", errno);
    close(release_fd_);
    release_fd_ = -1;
    int err = 0;
    const ssize_t n = read(exec_error_fd_, &err, sizeof(err));
    close(exec_error_fd_);
    exec_error_fd_ = -1;
    if (n == sizeof(err)) return Status::FromErrno(fmt::format("cannot run '{}'", name_), err);
    return Status::Ok();
  }

  // True once the child has exited (and was reaped).
  bool Exited() {
    if (exit_status_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_status_.has_value();
  }
  std::optional<int> exit_status() const { return exit_status_; }

 private:
  ChildProcess(pid_t pid, int release_fd, int exec_error_fd, std::string name)
      : pid_(pid), release_fd_(release_fd), exec_error_fd_(exec_error_fd), name_(std::move(name)) {}

  pid_t pid_;
  int release_fd_;
  int exec_error_fd_;
  std::string name_;
  std::optional<int> exit_status_;
};

bool AnyAlive(const std::vector<uint32_t>& pids) {
  for (uint32_t pid : pids) {
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return true;
  }
  return false;
}

std::string DefaultOutputPath(OutputFormat format) {
  return fmt::format("profkit-{}.{}", FormatFileTimestamp(WallTimeNanos()),
                     format == OutputFormat::kPprof ? "pprof" : "txt");
}

}  // namespace

Result<RecordSummary> Record(const RecordOptions& options, const std::atomic<bool>& stop) {
  if (options.pids.empty() && options.command.empty()) {
    return Status::InvalidInput("nothing to record: give --pid PID or a command after --");
  }
  for (uint32_t pid : options.pids) {
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      return Status::NotFoundf("--pid {}: no such process", pid);
    }
  }

  std::optional<ChildProcess> child;
  if (!options.command.empty()) {
    PROFKIT_ASSIGN_OR_RETURN(ChildProcess spawned, ChildProcess::Spawn(options.command));
    child.emplace(std::move(spawned));
  }

  pipeline::SamplePipeline pipeline(pipeline::PipelineOptions{
      .sample_rate_hz = options.sample_rate_hz,
      .fixed_service = profile::ServiceKey{.service = "profkit-record", .language = "cpp"}});
  TargetFilter filter(options.pids,
                      [&pipeline](uint32_t pid) { return pipeline.process_table().ParentOf(pid); });
  if (child) filter.AddTarget(static_cast<uint32_t>(child->pid()));
  pipeline.SetSampleFilter([&filter](uint32_t pid) { return filter.Matches(pid); });

  PROFKIT_ASSIGN_OR_RETURN(
      std::unique_ptr<sampling::BpfSampler> sampler,
      sampling::BpfSampler::Start(sampling::SamplerOptions{.sample_rate_hz = options.sample_rate_hz,
                                                           .kernel_stacks = options.kernel_stacks}));
  pipeline.SetPythonRegistry(sampler.get());
  const int64_t start_unix_ns = WallTimeNanos();
  const int64_t start_mono = MonotonicNanos();
  if (child) PROFKIT_RETURN_IF_ERROR(child->Release());
  spdlog::info("recording at {} Hz{}", options.sample_rate_hz,
               options.duration_seconds ? fmt::format(" for {} s", *options.duration_seconds)
                                        : std::string(" until the target exits or Ctrl-C"));

  const auto handle = [&pipeline](const sampling::Record& record) { pipeline.Handle(record); };
  const int64_t deadline_mono =
      options.duration_seconds ? start_mono + static_cast<int64_t>(*options.duration_seconds * 1e9) : 0;
  while (!stop.load(std::memory_order_relaxed)) {
    PROFKIT_ASSIGN_OR_RETURN(int polled, sampler->Poll(kPollTimeout, handle));
    (void)polled;
    if (deadline_mono != 0 && MonotonicNanos() >= deadline_mono) break;
    if (child ? child->Exited() : !AnyAlive(options.pids)) break;
  }
  // Samples taken just before the end may still sit in the ring buffer.
  PROFKIT_ASSIGN_OR_RETURN(int drained, sampler->Poll(std::chrono::milliseconds(0), handle));
  (void)drained;
  const int64_t end_unix_ns = WallTimeNanos();
  pipeline.SetPythonRegistry(nullptr);
  sampler.reset();

  RecordSummary summary;
  summary.output_path = options.output.empty() ? DefaultOutputPath(options.format) : options.output;
  summary.samples = pipeline.counters().samples - pipeline.counters().filtered_samples;
  std::string data;
  if (options.format == OutputFormat::kCollapsed) {
    data = pipeline.FlushCollapsed();
  } else {
    std::vector<pipeline::ServiceProfile> profiles = pipeline.FlushPprof(pipeline::IntervalTiming{
        .start_unix_ns = start_unix_ns,
        .end_unix_ns = end_unix_ns,
        .sample_period_ns = 1'000'000'000 / options.sample_rate_hz});
    if (profiles.empty()) return Status::Internal("building the profile failed");
    data = std::move(profiles.front().pprof_gzip);
  }
  PROFKIT_RETURN_IF_ERROR(WriteFileAtomically(summary.output_path, data).WithContext("writing the profile"));
  if (child) {
    child->Exited();
    summary.command_exit_status = child->exit_status();
  }
  return summary;
}

}  // namespace profkit::record
