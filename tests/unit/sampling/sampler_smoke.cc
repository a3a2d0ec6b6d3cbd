// Privileged smoke check of the BPF sampler: samples the whole machine for a while, then prints
// per-comm sample counts with stack depths, the process events seen and the sampler's counters.
// Usage (root): sampler_smoke --seconds 10 [--rate 99] [--no-kernel-stacks] [--comm NAME ...]
// Fails when the sampler cannot start or sees no sample or a record it cannot decode. ctest runs it
// under the label requires_bpf; without root it exits 77 (skipped), or fails under CI=true.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "profkit/common/log.h"
#include "profkit/sampling/bpf_sampler.h"
#include "testing/ci.h"

namespace {

using profkit::sampling::ProcessEventRecord;
using profkit::sampling::Record;
using profkit::sampling::SampleRecord;

struct CommStats {
  uint64_t samples = 0;
  uint64_t user_frames = 0;
  uint64_t kernel_frames = 0;
  size_t max_user_depth = 0;
  uint64_t user_errors = 0;
  uint64_t user_truncated = 0;
};

// ctest's SKIP_RETURN_CODE for this test.
constexpr int kSkipped = 77;

struct EventStats {
  uint64_t exec = 0;
  uint64_t fork = 0;
  uint64_t exit = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"profkit BPF sampler smoke check (needs root)"};
  int seconds = 10;
  int top = 15;
  profkit::sampling::SamplerOptions options;
  bool no_kernel_stacks = false;
  std::vector<std::string> only_comms;
  app.add_option("--seconds", seconds, "How long to sample")->check(CLI::Range(1, 3600));
  app.add_option("--rate", options.sample_rate_hz, "Samples per second per CPU");
  app.add_option("--top", top, "Rows to print per table")->check(CLI::Range(1, 1000));
  app.add_option("--ring-buffer-bytes", options.ring_buffer_bytes, "BPF ring buffer size");
  int poll_ms = 100;
  app.add_option("--poll-ms", poll_ms, "Poll timeout (a long one provokes drops)")
      ->check(CLI::Range(1, 10000));
  app.add_flag("--no-kernel-stacks", no_kernel_stacks, "Do not collect kernel stacks");
  app.add_option("--comm", only_comms, "Print only these comms (default: the busiest)");
  CLI11_PARSE(app, argc, argv);
  options.kernel_stacks = !no_kernel_stacks;
  profkit::InitLogging("info");
  if (geteuid() != 0) {
    fmt::print(stderr, "sampler_smoke needs root (BPF)\n");
    return profkit::testing::RunningInCi() ? 1 : kSkipped;
  }

  auto sampler = profkit::sampling::BpfSampler::Start(options);
  if (!sampler.ok()) {
    fmt::print(stderr, "starting the sampler: {}\n", sampler.status().message());
    return 1;
  }

  std::map<std::string, CommStats> by_comm;
  std::map<std::string, EventStats> events_by_comm;
  auto wanted = [&](const std::string& comm) {
    return only_comms.empty() ||
           std::find(only_comms.begin(), only_comms.end(), comm) != only_comms.end();
  };
  auto on_record = [&](const Record& record) {
    if (const auto* sample = std::get_if<SampleRecord>(&record)) {
      if (!wanted(sample->comm)) return;
      CommStats& s = by_comm[sample->comm];
      ++s.samples;
      s.user_frames += sample->user_ips.size();
      s.kernel_frames += sample->kernel_ips.size();
      s.max_user_depth = std::max(s.max_user_depth, sample->user_ips.size());
      s.user_errors += sample->user_stack_error;
      s.user_truncated += sample->user_stack_truncated;
      return;
    }
    const auto& event = std::get<ProcessEventRecord>(record);
    if (!wanted(event.comm)) return;
    EventStats& e = events_by_comm[event.comm];
    switch (event.kind) {
      case ProcessEventRecord::Kind::kExec:
        ++e.exec;
        break;
      case ProcessEventRecord::Kind::kFork:
        ++e.fork;
        break;
      case ProcessEventRecord::Kind::kExit:
        ++e.exit;
        break;
    }
  };

  // The CPU clock samples only busy CPUs, and an idle machine has next to nothing to sample (a
  // 3 s window once had none at all): this thread keeps one CPU busy, so samples must arrive.
  std::atomic<bool> sampling_done{false};
  std::thread busy([&sampling_done] {
    while (!sampling_done.load(std::memory_order_relaxed)) {
    }
  });
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    auto handled = (*sampler)->Poll(std::chrono::milliseconds(poll_ms), on_record);
    if (!handled.ok()) {
      fmt::print(stderr, "{}\n", handled.status().message());
      sampling_done = true;
      busy.join();
      return 1;
    }
  }
  sampling_done = true;
  busy.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<std::pair<std::string, CommStats>> rows(by_comm.begin(), by_comm.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.samples > b.second.samples; });
  fmt::print("sampled {:.1f} s at {} Hz per CPU, kernel stacks {}\n", elapsed,
             options.sample_rate_hz, options.kernel_stacks ? "on" : "off");
  fmt::print("{:<16} {:>8} {:>9} {:>10} {:>10} {:>10} {:>8} {:>9}\n", "comm", "samples",
             "samples/s", "avg_user", "max_user", "avg_kern", "user_err", "user_trunc");
  for (size_t i = 0; i < rows.size() && i < static_cast<size_t>(top); ++i) {
    const auto& [comm, s] = rows[i];
    fmt::print("{:<16} {:>8} {:>9.1f} {:>10.1f} {:>10} {:>10.1f} {:>8} {:>9}\n", comm, s.samples,
               s.samples / elapsed, static_cast<double>(s.user_frames) / s.samples,
               s.max_user_depth, static_cast<double>(s.kernel_frames) / s.samples, s.user_errors,
               s.user_truncated);
  }

  fmt::print("\n{:<16} {:>8} {:>8} {:>8}\n", "process events", "exec", "fork", "exit");
  size_t printed = 0;
  for (const auto& [comm, e] : events_by_comm) {
    if (printed++ == static_cast<size_t>(top)) break;
    fmt::print("{:<16} {:>8} {:>8} {:>8}\n", comm, e.exec, e.fork, e.exit);
  }

  const auto c = (*sampler)->counters();
  fmt::print("\ncounters: samples={} process_events={} ringbuf_drops={} stack_errors={} "
             "decode_errors={}\n",
             c.samples, c.process_events, c.ringbuf_drops, c.stack_errors, c.decode_errors);
  if (c.samples == 0 || c.decode_errors != 0) {
    fmt::print(stderr, "expected samples and no decode errors\n");
    return 1;
  }
  return 0;
}
