#include "profkit/record/recorder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/ranges.h>

#include "profkit/common/clock.h"
#include "profkit/common/file_util.h"
#include "profkit/common/log.h"
#include "profkit/common/unique_fd.h"
#include "profkit/pipeline/sample_pipeline.h"
#include "profkit/pipeline/sampling_loop.h"
#include "profkit/record/record_dump.h"
#include "profkit/record/target_filter.h"

namespace profkit::record {
namespace {

constexpr std::chrono::milliseconds kPollTimeout{100};

// The command is forked first and held on a pipe until sampling runs, so its first instructions
// are profiled; a second, close-on-exec pipe reports an exec failure back to us.
class ChildProcess {
 public:
  static Result<ChildProcess> Spawn(const std::vector<std::string>& command) {
    PROFKIT_ASSIGN_OR_RETURN(Pipe release, Pipe::Open());
    PROFKIT_ASSIGN_OR_RETURN(Pipe exec_error, Pipe::Open());
    const pid_t pid = fork();
    if (pid < 0) return Status::FromErrno("fork", errno);
    if (pid == 0) {
      release.write_end.reset();
      exec_error.read_end.reset();
      char go = 0;
      if (read(release.read_end.get(), &go, 1) != 1) _exit(127);
      std::vector<char*> argv;
      for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      const int err = errno;
      (void)!write(exec_error.write_end.get(), &err, sizeof(err));
      _exit(127);
    }
    return ChildProcess(pid, std::move(release.write_end), std::move(exec_error.read_end),
                        command.front());
  }

  ChildProcess(ChildProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        release_fd_(std::move(other.release_fd_)),
        exec_error_fd_(std::move(other.exec_error_fd_)),
        name_(std::move(other.name_)) {}
  ChildProcess& operator=(ChildProcess&&) = delete;

  ~ChildProcess() {
    release_fd_.reset();
    exec_error_fd_.reset();
    if (pid_ > 0 && !exit_status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  Status Release() {
    const char go = 1;
    if (write(release_fd_.get(), &go, 1) != 1) {
      return Status::FromErrno("starting the command", errno);
    }
    release_fd_.reset();
    int err = 0;
    const ssize_t n = read(exec_error_fd_.get(), &err, sizeof(err));
    exec_error_fd_.reset();
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
  // Both ends of a close-on-exec pipe.
  struct Pipe {
    static Result<Pipe> Open() {
      int fds[2];
      if (pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno("pipe", errno);
      return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
    }
    UniqueFd read_end;
    UniqueFd write_end;
  };

  ChildProcess(pid_t pid, UniqueFd release_fd, UniqueFd exec_error_fd, std::string name)
      : pid_(pid),
        release_fd_(std::move(release_fd)),
        exec_error_fd_(std::move(exec_error_fd)),
        name_(std::move(name)) {}

  pid_t pid_;
  UniqueFd release_fd_;
  UniqueFd exec_error_fd_;
  std::string name_;
  std::optional<int> exit_status_;
};

bool AnyAlive(const std::vector<uint32_t>& pids) {
  for (uint32_t pid : pids) {
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return true;
  }
  return false;
}

std::string DefaultOutputPath(const std::optional<profile::ViewFormat>& view) {
  return fmt::format("profkit-{}{}", FormatFileTimestamp(WallTimeNanos()),
                     view ? profile::ViewFileEnding(*view) : ".pprof");
}

// What the views' heading names: the command, or the pids.
std::string RecordingTitle(const RecordOptions& options) {
  if (!options.command.empty()) return fmt::format("{}", fmt::join(options.command, " "));
  return fmt::format("pid {}", fmt::join(options.pids, ", "));
}

// With off-CPU on, wall time by default: CPU samples alone would hide every wait.
pipeline::StackValueType ViewValueOf(const RecordOptions& options) {
  if (options.sample_type) return *options.sample_type;
  return options.off_cpu ? pipeline::StackValueType::kWall : pipeline::StackValueType::kSamples;
}

// The session's one output, built by the loop's flush worker from the last (only) interval.
Result<std::string> BuildOutput(pipeline::SamplePipeline& pipeline,
                                const pipeline::FlushBatch& batch, const RecordOptions& options) {
  if (options.view) {
    profile::StackProfile stacks = pipeline.BuildStackProfile(batch, ViewValueOf(options));
    stacks.info.title = RecordingTitle(options);
    stacks.info.duration_ns = batch.timing.end_unix_ns - batch.timing.start_unix_ns;
    stacks.info.period_ns = batch.timing.sample_period_ns;
    return profile::RenderView(stacks, *options.view, options.view_options);
  }
  std::vector<pipeline::ServiceProfile> profiles = pipeline.BuildPprof(batch);
  if (profiles.empty()) return Status::Internal("building the profile failed");
  return std::move(profiles.front().pprof_gzip);
}

Status CheckTargets(const RecordOptions& options) {
  if (options.pids.empty() && options.command.empty()) {
    return Status::InvalidInput("nothing to record: give --pid PID or a command after --");
  }
  for (uint32_t pid : options.pids) {
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      return Status::NotFoundf("--pid {}: no such process", pid);
    }
  }
  return Status::Ok();
}

// One line on how the native unwinder did, for `record` users comparing stacks.
void LogUnwindCounters(const pipeline::SamplePipeline& pipeline,
                       const sampling::SampleSource& source) {
  const std::optional<unwind::UnwindStoreCounters> tables = pipeline.unwind_counters();
  if (!tables) return;
  const sampling::SamplerCounters sampler = source.counters();
  spdlog::info(
      "native unwinding: {} stacks walked with unwind tables ({:.2f} us each), {} of them "
      "incomplete, {} frames by frame pointer; {} tables built in {:.1f} ms, {} files without "
      "CFI, {} over the table memory cap",
      sampler.unwind_samples,
      sampler.unwind_samples ? sampler.unwind_ns / 1e3 / sampler.unwind_samples : 0.0,
      sampler.unwind_truncated, sampler.unwind_fp_frames, tables->tables_built,
      tables->build_ns / 1e6, tables->files_without_cfi, tables->capacity_exceeded);
}

}  // namespace

Result<RecordSummary> Record(const RecordOptions& options, const std::atomic<bool>& stop,
                             const sampling::SampleSourceFactory& sources) {
  PROFKIT_RETURN_IF_ERROR(CheckTargets(options));
  std::optional<ChildProcess> child;
  if (!options.command.empty()) {
    PROFKIT_ASSIGN_OR_RETURN(ChildProcess spawned, ChildProcess::Spawn(options.command));
    child.emplace(std::move(spawned));
  }

  pipeline::SamplePipeline pipeline(pipeline::PipelineOptions{
      .sample_rate_hz = options.sample_rate_hz,
      .fixed_service = profile::ServiceKey{.service = "profkit-record", .language = "cpp"},
      .off_cpu = options.off_cpu});
  TargetFilter filter(options.pids,
                      [&pipeline](uint32_t pid) { return pipeline.process_table().ParentOf(pid); });
  if (child) filter.AddTarget(static_cast<uint32_t>(child->pid()));
  pipeline.SetSampleFilter([&filter](uint32_t pid) { return filter.Matches(pid); });

  PROFKIT_ASSIGN_OR_RETURN(
      std::unique_ptr<sampling::SampleSource> source,
      sources(sampling::SamplerOptions{
          .sample_rate_hz = options.sample_rate_hz,
          .kernel_stacks = options.kernel_stacks,
          .unwind_table_bytes = options.native_unwinding ? size_t{32} << 20 : 0,
          .off_cpu = {.enabled = options.off_cpu,
                      .min_duration_ns = options.off_cpu_min_duration_ns,
                      .sample_every = options.off_cpu_sample_every}}));
  std::unique_ptr<RecordDump> dump;
  if (!options.dump_records.empty()) {
    PROFKIT_ASSIGN_OR_RETURN(
        dump, RecordDump::Create(options.dump_records,
                                 [&filter](uint32_t pid) { return filter.Matches(pid); }));
    source->SetRawRecordTap([&dump](std::span<const uint8_t> bytes) { dump->OnRawRecord(bytes); });
  }
  pipeline.SetPythonRegistry(source.get());
  pipeline.SetUnwindMaps(source->unwind_maps());
  const int64_t start_mono = MonotonicNanos();
  if (child) PROFKIT_RETURN_IF_ERROR(child->Release());
  spdlog::info("recording at {} Hz{}", options.sample_rate_hz,
               options.duration_seconds ? fmt::format(" for {} s", *options.duration_seconds)
                                        : std::string(" until the target exits or Ctrl-C"));

  const int64_t deadline_mono =
      options.duration_seconds ? start_mono + static_cast<int64_t>(*options.duration_seconds * 1e9)
                               : 0;
  const auto finished = [&] {
    if (stop.load(std::memory_order_relaxed)) return true;
    if (deadline_mono != 0 && MonotonicNanos() >= deadline_mono) return true;
    return child ? child->Exited() : !AnyAlive(options.pids);
  };
  Result<std::string> data = Status::Internal("the recording ended before its profile was built");
  {
    pipeline::SamplingLoop loop(
        *source, pipeline,
        pipeline::SamplingLoopOptions{.sample_rate_hz = options.sample_rate_hz,
                                      .poll_timeout = kPollTimeout},
        [&](const pipeline::FlushBatch& batch) { data = BuildOutput(pipeline, batch, options); });
    PROFKIT_RETURN_IF_ERROR(loop.Run(finished));
  }
  pipeline.SetPythonRegistry(nullptr);
  LogUnwindCounters(pipeline, *source);
  pipeline.SetUnwindMaps(nullptr);
  source.reset();
  if (dump) {
    PROFKIT_RETURN_IF_ERROR(dump->Close().WithContext("--dump-records"));
    spdlog::info("wrote {} records to {}", dump->records(), options.dump_records);
  }

  RecordSummary summary;
  summary.output_path = options.output.empty() ? DefaultOutputPath(options.view) : options.output;
  summary.samples = pipeline.counters().samples - pipeline.counters().filtered_samples;
  if (!data.ok()) return data.status();
  PROFKIT_RETURN_IF_ERROR(
      WriteFileAtomically(summary.output_path, *data).WithContext("writing the profile"));
  if (child) {
    child->Exited();
    summary.command_exit_status = child->exit_status();
  }
  return summary;
}

}  // namespace profkit::record
