// profkit's command line. Exit codes: 0 success, 1 failure at run time, 2 bad arguments or
// configuration (one line naming the problem; nothing was started).
#include <malloc.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <exception>
#include <optional>

#include "profkit/agent/agent.h"
#include "profkit/common/limits.h"
#include "profkit/common/log.h"
#include "profkit/config/config.h"
#include "profkit/record/convert.h"
#include "profkit/record/recorder.h"
#include "profkit/sampling/sample_source.h"
#include "profkit/version.h"
#ifdef PROFKIT_HAVE_BPF
#include "profkit/sampling/bpf_sampler.h"
#endif

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::atomic<bool> g_stop{false};

void RequestStop(int) { g_stop.store(true); }

// The live eBPF sampler; a build without BPF (cmake -DPROFKIT_BUILD_BPF=OFF) runs everything but
// eBPF sampling, and `run` with ebpf.enabled or `record` fail with this message.
profkit::Result<std::unique_ptr<profkit::sampling::SampleSource>> StartSampler(
    const profkit::sampling::SamplerOptions& options) {
#ifdef PROFKIT_HAVE_BPF
  auto sampler = profkit::sampling::BpfSampler::Start(options);
  if (!sampler.ok()) return sampler.status();
  return std::unique_ptr<profkit::sampling::SampleSource>(std::move(sampler).value());
#else
  (void)options;
  return profkit::Status::Unsupported(
      "this profkit was built without BPF (cmake -DPROFKIT_BUILD_BPF=OFF), so it cannot sample: "
      "rebuild with clang and bpftool installed, or (for `run`) set ebpf.enabled = false to run "
      "only the other inputs");
#endif
}

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = RequestStop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "profkit: %s\n", message.c_str());
  return kExitUsage;
}

int RunAgent(const std::string& config_path, const std::string& log_level) {
  profkit::Result<profkit::config::Config> config = profkit::config::LoadConfigFile(config_path);
  if (!config.ok()) return Usage(config.status().message());
  profkit::InitLogging(log_level);
  for (const std::string& warning : config->warnings) spdlog::warn("{}", warning);
  InstallStopHandlers();
  spdlog::info("profkit {} starting with {}", PROFKIT_VERSION, config_path);
  profkit::Result<std::unique_ptr<profkit::agent::Agent>> agent =
      profkit::agent::Agent::Start(*config, StartSampler);
  if (!agent.ok()) {
    spdlog::error("{}", agent.status().message());
    return kExitFailure;
  }
  const profkit::Status status = (*agent)->Run(g_stop);
  if (!status.ok()) {
    spdlog::error("{}", status.message());
    return kExitFailure;
  }
  spdlog::info("stopped");
  return 0;
}

int RunRecord(const profkit::record::RecordOptions& options, const std::string& log_level) {
  profkit::InitLogging(log_level);
  InstallStopHandlers();
  profkit::Result<profkit::record::RecordSummary> summary =
      profkit::record::Record(options, g_stop, StartSampler);
  if (!summary.ok()) {
    spdlog::error("{}", summary.status().message());
    return kExitFailure;
  }
  spdlog::info("wrote {} ({} samples)", summary->output_path, summary->samples);
  if (summary->command_exit_status && *summary->command_exit_status != 0) {
    spdlog::warn("the command exited with status {}", *summary->command_exit_status);
  }
  return 0;
}

int RunConvert(const profkit::record::ConvertOptions& options, const std::string& log_level) {
  profkit::InitLogging(log_level);
  profkit::Result<profkit::record::ConvertSummary> summary =
      profkit::record::ConvertProfile(options);
  if (!summary.ok()) {
    spdlog::error("{}", summary.status().message());
    return kExitFailure;
  }
  spdlog::info("wrote {} ({} stacks, {} in all)", options.output, summary->stacks, summary->total);
  return 0;
}

// The options of the views (profile/profile_views.h), shared by record and convert.
void AddViewOptions(CLI::App& command, profkit::profile::ViewOptions& options) {
  command.add_flag_callback(
      "--no-lines", [&options] { options.collapsed_lines = false; },
      "collapsed: bare Python function names instead of \"name (file:line)\"");
  command
      .add_option("--min-width", options.flame_graph.min_width_percent,
                  "svg: merge frames narrower than this percent of all samples (default 0.05)")
      ->check(CLI::Range(0.0, 100.0));
}

}  // namespace

// The agent's memory (README.md, "How native stacks are unwound": agent RSS in a C++ build) is
// mostly what glibc's allocator keeps, not what is in use: each thread that allocates (the
// reader, the table builder, the flush worker, HTTP workers) got an arena of its own, and the
// flush's and the table builder's transient buffers, freed, stayed in them. One arena (the
// threads still allocate small blocks from their per-thread caches without its lock), large
// blocks mapped on their own and given back at free, and the heap's top trimmed past 1 MiB: the
// peak went from 145–159 to 115–117 MiB and the memory held at the end from 104 to 70–80 MiB in
// bench/native_unwind_build.sh, with no measurable CPU cost. Set before any thread starts.
static void ConfigureAllocator() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
}

int main(int argc, char** argv) {
  ConfigureAllocator();
  CLI::App app{
      "profkit: eBPF continuous profiler agent (native stacks system-wide, pprof per service)",
      "profkit"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  std::string config_path;
  CLI::App* run = app.add_subcommand("run", "Run the agent in the foreground (logs to stderr)");
  run->add_option("--config", config_path, "TOML configuration file (see conf/profkit.toml)")
      ->required();

  profkit::record::RecordOptions record_options;
  std::string format;
  double duration = 0;
  CLI::App* record = app.add_subcommand(
      "record",
      "Profile processes (with their threads and children) or a command, then write one file");
  record->add_option("--pid", record_options.pids, "Process to profile (repeatable)");
  record->add_option("--rate", record_options.sample_rate_hz, "Samples per second per CPU")
      ->check(CLI::Range(1, profkit::kMaxSampleRateHz));
  CLI::Option* duration_option =
      record
          ->add_option("--duration", duration,
                       "Seconds to record (default: until the target exits or Ctrl-C)")
          ->check(CLI::PositiveNumber);
  record
      ->add_option("--format", format,
                   "pprof, collapsed, speedscope or svg (default: from the --output ending "
                   ".svg, .json, .txt; else pprof)")
      ->check(CLI::IsMember({"pprof", "collapsed", "speedscope", "svg"}));
  record->add_option("-o,--output", record_options.output,
                     "Output file (default: profkit-<time>.pprof|.txt|.speedscope.json|.svg)");
  AddViewOptions(*record, record_options.view_options);
  record->add_option(
      "--dump-records", record_options.dump_records,
      "Also write the raw sampling records and /proc facts to this file, for replay");
  bool frame_pointers_only = false;
  record->add_flag("--frame-pointers-only", frame_pointers_only,
                   "Walk user stacks by frame pointer only (no .eh_frame unwind tables)");
  record->add_flag("--off-cpu", record_options.off_cpu,
                   "Also record where threads wait off CPU (off-cpu and wall sample types)");
  double off_cpu_min_ms = record_options.off_cpu_min_duration_ns / 1e6;
  record
      ->add_option("--off-cpu-min-ms", off_cpu_min_ms,
                   "--off-cpu: leave out waits shorter than this many milliseconds (default 1)")
      ->check(CLI::Range(0.0, profkit::sampling::kMaxOffCpuMinDurationNs / 1e6));
  record
      ->add_option("--off-cpu-sample-every", record_options.off_cpu_sample_every,
                   "--off-cpu: record 1 in N context switches, each counting for N (default 1)")
      ->check(CLI::Range(1u, profkit::sampling::kMaxOffCpuSampleEvery));
  std::string sample_type;
  record
      ->add_option("--sample-type", sample_type,
                   "The value collapsed, speedscope and svg write: samples, cpu, off-cpu, "
                   "off-cpu-events or wall (default: samples; wall with --off-cpu)")
      ->check(CLI::IsMember({"samples", "cpu", "off-cpu", "off-cpu-events", "wall"}));
  record->add_option("command", record_options.command, "Command to start and profile, after --");

  profkit::record::ConvertOptions convert_options;
  std::string convert_format;
  CLI::App* convert = app.add_subcommand(
      "convert", "Write a pprof profkit wrote (record, or run's local files) as svg, speedscope "
                 "or collapsed text");
  convert->add_option("input", convert_options.input, "pprof file (gzip-compressed or not)")
      ->required();
  convert
      ->add_option("--format", convert_format,
                   "svg, speedscope or collapsed (default: from the -o ending .svg, .json, .txt)")
      ->check(CLI::IsMember({"collapsed", "speedscope", "svg"}));
  convert->add_option("-o,--output", convert_options.output, "Output file")->required();
  convert->add_option("--sample-type", convert_options.sample_type,
                      "The sample type to write, e.g. off-cpu or wall (default: samples)");
  AddViewOptions(*convert, convert_options.view_options);

  app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& error) {
    // --help on a subcommand arrives here too, as a CallForHelp raised inside the subcommand.
    if (error.get_exit_code() == 0) {
      std::fputs(
          (app.get_subcommands().empty() ? app.help() : app.get_subcommands().front()->help())
              .c_str(),
          stdout);
      return 0;
    }
    return Usage(error.what());
  }

  if (app.got_subcommand("version")) {
    std::printf("profkit %s\n", PROFKIT_VERSION);
    return 0;
  }
  try {
    if (app.got_subcommand(run)) return RunAgent(config_path, log_level);
    if (app.got_subcommand(convert)) {
      const std::optional<profkit::profile::ViewFormat> view =
          convert_format.empty() ? profkit::profile::ViewFormatOfPath(convert_options.output)
                                 : profkit::profile::ParseViewFormat(convert_format);
      if (!view) {
        return Usage("convert: give --format svg|speedscope|collapsed, or an -o ending in .svg, "
                     ".json or .txt");
      }
      convert_options.format = *view;
      return RunConvert(convert_options, log_level);
    }
    if (*duration_option) record_options.duration_seconds = duration;
    record_options.native_unwinding = !frame_pointers_only;
    record_options.view = format.empty() ? profkit::profile::ViewFormatOfPath(record_options.output)
                                         : profkit::profile::ParseViewFormat(format);
    record_options.off_cpu_min_duration_ns = static_cast<uint64_t>(off_cpu_min_ms * 1e6);
    if (!sample_type.empty()) {
      record_options.sample_type = profkit::pipeline::ParseStackValueType(sample_type);
    }
    if (record_options.pids.empty() && record_options.command.empty()) {
      return Usage("record: give --pid PID or a command after --");
    }
    return RunRecord(record_options, log_level);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "profkit: fatal: %s\n", error.what());
    return kExitFailure;
  }
}
