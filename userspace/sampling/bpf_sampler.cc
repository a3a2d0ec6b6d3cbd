#include "profkit/sampling/bpf_sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <utility>

#include "profkit.skel.h"
#include "profkit/bpf_abi.h"
#include "profkit/common/file_util.h"
#include "profkit/common/log.h"
#include "profkit/common/unique_fd.h"
#include "profkit/sampling/cpu_list.h"

namespace profkit::sampling {
namespace {

constexpr char kKernelBtfPath[] = "/sys/kernel/btf/vmlinux";
constexpr char kOnlineCpusPath[] = "/sys/devices/system/cpu/online";
// "0-8191" fits many times over; a longer file is corrupt.
constexpr size_t kMaxCpuListBytes = 64 * 1024;
constexpr int64_t kDecodeErrorLogIntervalNs = 60'000'000'000;
// Of the sampled switches of a thread whose last timed wait was under off_cpu_min_duration, 1 in
// this many is walked (bpf/off_cpu.bpf.h, begin_wait): bench/offcpu.sh, README "Off-CPU and
// wall-clock profiles", gives the cost it saves.
constexpr uint32_t kOffCpuShortWalkEvery = 8;

// libbpf's messages (including verifier logs on load failure) go to profkit's log. Its warnings
// matter to users; its info/debug chatter only when debugging. Messages carry their own
// "libbpf: " prefix.
int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  // A verifier log comes as one message of up to megabytes, whose tail says why the program was
  // rejected: the last kLogTailBytes of a longer message are kept.
  constexpr size_t kLogTailBytes = 1 << 16;
  va_list measure;
  va_copy(measure, args);
  const int n = vsnprintf(nullptr, 0, format, measure);
  va_end(measure);
  if (n < 0) return n;
  std::string text(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(text.data(), text.size(), format, args);
  text.pop_back();
  std::string_view message(text);
  if (message.size() > kLogTailBytes) message.remove_prefix(message.size() - kLogTailBytes);
  while (!message.empty() && message.back() == '\n') message.remove_suffix(1);
  switch (level) {
    case LIBBPF_WARN:
      spdlog::warn("{}", message);
      break;
    case LIBBPF_INFO:
      spdlog::debug("{}", message);
      break;
    case LIBBPF_DEBUG:
      spdlog::trace("{}", message);
      break;
  }
  return n;
}

std::string PerfEventParanoid() {
  auto value = ReadFileBounded("/proc/sys/kernel/perf_event_paranoid", 64);
  if (!value.ok()) return "unknown";
  std::string text = std::move(value).value();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// Load and attach fail with EPERM/EACCES for the same few reasons. (On the kernels profkit runs
// on, BPF memory is charged to the cgroup, not RLIMIT_MEMLOCK.)
constexpr char kPrivilegeHint[] = "run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE";

// The oldest kernel with everything the BPF programs use, newest feature first: bpf_loop (5.17),
// bpf_task_pt_regs (5.15), bpf_get_current_task_btf (5.11), BPF ring buffers (5.8), tp_btf
// programs and bpf_probe_read_user (5.5), all on kernel BTF. README.md states the same.
constexpr char kKernelRequirement[] =
    "Linux >= 5.17 built with CONFIG_DEBUG_INFO_BTF=y (bpf_loop, bpf_task_pt_regs, BPF ring "
    "buffers, tp_btf programs)";

std::string KernelRelease() {
  struct utsname name;
  return uname(&name) == 0 ? name.release : "unknown";
}

Status LoadError(int err) {
  Status status = Status::FromErrno("loading the BPF programs", err);
  if (err == EPERM || err == EACCES) {
    return status.WithHint(
        fmt::format("{}; verifier output, if any, is in the log above", kPrivilegeHint));
  }
  return status.WithHint(fmt::format(
      "profkit needs {}; this kernel is {}; verifier output, if any, is in the log above",
      kKernelRequirement, KernelRelease()));
}

Status PerfEventOpenError(int cpu, int rate_hz, int err) {
  Status status = Status::FromErrno(
      fmt::format("perf_event_open(PERF_COUNT_SW_CPU_CLOCK) on CPU {}", cpu), err);
  switch (err) {
    case EACCES:
    case EPERM:
      return status.WithHint(fmt::format("system-wide sampling needs root or CAP_PERFMON, or "
                                         "kernel.perf_event_paranoid <= 0; it is {}",
                                         PerfEventParanoid()));
    case EINVAL:
      return status.WithHint(
          fmt::format("is {} Hz above kernel.perf_event_max_sample_rate?", rate_hz));
    case EMFILE:
      return status.WithHint("one fd per CPU is needed: raise the open-file limit");
    default:
      return status;
  }
}

}  // namespace

void BpfSampler::LinkDeleter::operator()(bpf_link* link) const { bpf_link__destroy(link); }
void BpfSampler::SkeletonDeleter::operator()(profkit_bpf* skel) const {
  profkit_bpf__destroy(skel);
}
void BpfSampler::RingBufferDeleter::operator()(ring_buffer* rb) const { ring_buffer__free(rb); }

BpfSampler::~BpfSampler() = default;

Result<std::unique_ptr<BpfSampler>> BpfSampler::Start(const SamplerOptions& requested) {
  SamplerOptions options = requested;
  if (options.ring_buffer_bytes == 0) {
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return Status::FromErrno("counting possible CPUs", -cpus);
    options.ring_buffer_bytes = RingBufferBytesForCpus(static_cast<size_t>(cpus));
  }
  PROFKIT_RETURN_IF_ERROR(ValidateSamplerOptions(options));
  static std::once_flag print_once;
  std::call_once(print_once, [] { libbpf_set_print(LibbpfPrint); });

  // Checked up front because libbpf's own failure for it is an obscure CO-RE relocation error.
  if (access(kKernelBtfPath, R_OK) != 0) {
    const int err = errno;
    return Status::FromErrno(fmt::format("{} is not readable", kKernelBtfPath), err)
        .WithHint("profkit's CO-RE BPF programs need a kernel built with "
                  "CONFIG_DEBUG_INFO_BTF=y, the default of current distribution kernels");
  }

  std::unique_ptr<BpfSampler> sampler(new BpfSampler());
  profkit_bpf* skel = profkit_bpf__open();
  if (skel == nullptr) return Status::FromErrno("opening the BPF skeleton", errno);
  sampler->skel_.reset(skel);

  skel->rodata->kernel_stacks = options.kernel_stacks;
  // See profkit_maps.h: a quarter full wakes the reader early; otherwise Poll's timeout does.
  skel->rodata->wakeup_bytes = options.ring_buffer_bytes / 4;
  if (int err = bpf_map__set_max_entries(skel->maps.events, options.ring_buffer_bytes); err) {
    return Status::FromErrno("sizing the BPF ring buffer", -err);
  }
  // The unwind arrays are sized once, here: BPF arrays cannot grow. The table memory cap is shared
  // 15:1 by rows and pages: a page (8 bytes) per 4 KiB of code, a row (4 bytes) per ~60 bytes of it
  // (libc, libpython), so pages take ~3% of a table's bytes and the rows run out first. One entry
  // each when native unwinding is off (the maps must exist; no process uses them then).
  sampler->unwind_row_capacity_ =
      options.unwind_table_bytes / 16 * 15 / sizeof(profkit_unwind_row_pair) * 2;
  sampler->unwind_page_capacity_ = options.unwind_table_bytes / 16 / sizeof(profkit_unwind_page);
  const auto at_least_one = [](size_t n) { return static_cast<uint32_t>(std::max<size_t>(1, n)); };
  if (int err = bpf_map__set_max_entries(skel->maps.unwind_rows,
                                         at_least_one(sampler->unwind_row_capacity_ / 2));
      err) {
    return Status::FromErrno("sizing the BPF unwind row map", -err);
  }
  if (int err = bpf_map__set_max_entries(skel->maps.unwind_pages,
                                         at_least_one(sampler->unwind_page_capacity_));
      err) {
    return Status::FromErrno("sizing the BPF unwind page map", -err);
  }
  if (int err = bpf_map__set_max_entries(
          skel->maps.unwind_infos, options.unwind_table_bytes > 0 ? PROFKIT_UNWIND_MAX_INFOS : 1);
      err) {
    return Status::FromErrno("sizing the BPF unwind rule map", -err);
  }
  skel->rodata->off_cpu_sample_every = options.off_cpu.sample_every;
  skel->rodata->off_cpu_min_ns = options.off_cpu.min_duration_ns;
  skel->rodata->off_cpu_kernel_threads = options.off_cpu.kernel_threads;
  // Only when sampling: with every switch recorded (record's default) each wait is measured, not
  // estimated. bpf/off_cpu.bpf.h, begin_wait, says why.
  skel->rodata->off_cpu_short_walk_every =
      options.off_cpu.sample_every > 1 ? kOffCpuShortWalkEvery : 1;
  // The tgid in the PID namespace BPF sees (the host's: the agent runs with hostPID, see deploy/).
  skel->rodata->agent_tgid = static_cast<uint32_t>(getpid());
  // Off: the off-CPU program is not even loaded (it holds a copy of the stack walkers, as long
  // to verify as the sampler).
  if (!options.off_cpu.enabled) {
    bpf_program__set_autoload(skel->progs.profkit_off_cpu_switch, false);
  }
  if (int err = profkit_bpf__load(skel); err) return LoadError(-err);

  // Created before attaching so no record written from the first sample on is missed.
  ring_buffer* rb = ring_buffer__new(bpf_map__fd(skel->maps.events), &BpfSampler::HandleRecord,
                                     sampler.get(), nullptr);
  if (rb == nullptr) return Status::FromErrno("creating the BPF ring buffer reader", errno);
  sampler->ring_buffer_.reset(rb);

  PROFKIT_RETURN_IF_ERROR(sampler->AttachTracepoints());
  if (options.off_cpu.enabled) PROFKIT_RETURN_IF_ERROR(sampler->AttachOffCpu());
  PROFKIT_RETURN_IF_ERROR(sampler->AttachPerfEvents(options));
  return sampler;
}

Status BpfSampler::AttachTracepoints() {
  for (bpf_program* program :
       {skel_->progs.profkit_exec, skel_->progs.profkit_fork, skel_->progs.profkit_exit}) {
    bpf_link* link = bpf_program__attach(program);
    if (link == nullptr) {
      const int err = errno;
      Status status = Status::FromErrno(
          fmt::format("attaching BPF program {} to {}", bpf_program__name(program),
                      bpf_program__section_name(program)),
          err);
      if (err == EPERM || err == EACCES) {
        return status.WithHint(kPrivilegeHint);
      }
      return status;
    }
    links_.emplace_back(link);
  }
  return Status::Ok();
}

Status BpfSampler::AttachOffCpu() {
  bpf_link* link = bpf_program__attach(skel_->progs.profkit_off_cpu_switch);
  if (link == nullptr) {
    const int err = errno;
    Status status = Status::FromErrno("attaching the off-CPU program to tp_btf/sched_switch", err);
    return err == EPERM || err == EACCES ? status.WithHint(kPrivilegeHint) : status;
  }
  links_.emplace_back(link);
  return Status::Ok();
}

Status BpfSampler::AttachPerfEvents(const SamplerOptions& options) {
  PROFKIT_ASSIGN_OR_RETURN(const std::string online,
                           ReadFileBounded(kOnlineCpusPath, kMaxCpuListBytes));
  auto cpus = ParseCpuList(online);
  if (!cpus.ok()) return cpus.status().WithContext(kOnlineCpusPath);

  int attached = 0;
  for (const int cpu : *cpus) {
    perf_event_attr attr = {};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    // Frequency mode: the kernel adjusts the period so each CPU yields sample_freq samples per
    // second of CPU time, whatever the clock's resolution.
    attr.freq = 1;
    attr.sample_freq = options.sample_rate_hz;
    const long fd = syscall(__NR_perf_event_open, &attr, /*pid=*/-1, cpu, /*group_fd=*/-1,
                            PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      // The CPU went offline since the online list was read: nothing to sample there.
      if (err == ENODEV) {
        spdlog::warn("CPU {} went offline while the sampler started; not sampling it", cpu);
        continue;
      }
      return PerfEventOpenError(cpu, options.sample_rate_hz, err);
    }
    UniqueFd perf_fd(static_cast<int>(fd));
    bpf_link* link = bpf_program__attach_perf_event(skel_->progs.profkit_sample, perf_fd.get());
    if (link == nullptr) {
      return Status::FromErrno(fmt::format("attaching the sampling program to CPU {}", cpu), errno);
    }
    // The perf link closes the perf event fd when destroyed.
    perf_fd.release();
    links_.emplace_back(link);
    ++attached;
  }
  if (attached == 0) return Status::NotFoundf("no online CPU to sample (online list '{}')", online);
  return Status::Ok();
}

int BpfSampler::HandleRecord(void* ctx, void* data, size_t size) {
  static LogLimiter decode_error_log(kDecodeErrorLogIntervalNs);
  auto* self = static_cast<BpfSampler*>(ctx);
  const std::span bytes(static_cast<const uint8_t*>(data), size);
  if (self->raw_tap_) self->raw_tap_(bytes);
  auto record = DecodeRecord(bytes);
  if (!record.ok()) {
    self->decode_errors_.fetch_add(1, std::memory_order_relaxed);
    if (const int64_t suppressed = decode_error_log.Allow(); suppressed >= 0) {
      spdlog::warn("dropping a BPF ring-buffer record: {} ({} similar errors suppressed)",
                   record.status().message(), suppressed);
    }
    return 0;  // one bad record must not stop the reader
  }
  if (const auto* sample = std::get_if<SampleRecord>(&*record)) {
    self->samples_.fetch_add(1, std::memory_order_relaxed);
    if (sample->off_cpu) self->off_cpu_records_.fetch_add(1, std::memory_order_relaxed);
  } else if (std::holds_alternative<ProcessEventRecord>(*record)) {
    self->process_events_.fetch_add(1, std::memory_order_relaxed);
  }
  (*self->on_record_)(*record);
  ++self->handled_in_poll_;
  return 0;
}

Result<int> BpfSampler::Poll(std::chrono::milliseconds timeout, const RecordHandler& on_record) {
  const auto timeout_ms = static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, INT_MAX));
  on_record_ = &on_record;
  handled_in_poll_ = 0;
  int n = ring_buffer__poll(ring_buffer_.get(), timeout_ms);
  // The BPF side wakes the reader only in batches, so a wait that ends by timeout still finds
  // records: drain them too.
  if (n >= 0 || n == -EINTR) n = ring_buffer__consume(ring_buffer_.get());
  on_record_ = nullptr;
  if (n < 0 && n != -EINTR) return Status::FromErrno("polling the BPF ring buffer", -n);
  return handled_in_poll_;
}

Status BpfSampler::RegisterPythonProcess(uint32_t pid, const profkit_python_process& layout) {
  if (int err = bpf_map__update_elem(skel_->maps.python_processes, &pid, sizeof(pid), &layout,
                                     sizeof(layout), BPF_ANY);
      err != 0) {
    return Status::FromErrno(fmt::format("registering CPython process {} with the BPF walker", pid),
                             -err);
  }
  return Status::Ok();
}

void BpfSampler::UnregisterPythonProcess(uint32_t pid) {
  bpf_map__delete_elem(skel_->maps.python_processes, &pid, sizeof(pid), 0);
}

namespace {

// Writes values[i] at index first + i of a BPF array of `capacity` entries, in batches: a
// libc-sized table is tens of thousands of rows.
template <typename T>
Status WriteArray(bpf_map* map, size_t capacity, uint32_t first, std::span<const T> values,
                  std::string_view what) {
  if (first > capacity || values.size() > capacity - first) {
    return Status::Internalf("{} [{}, +{}) outside the BPF map of {}", what, first, values.size(),
                             capacity);
  }
  constexpr size_t kChunk = 65536;
  std::vector<uint32_t> keys;
  const int fd = bpf_map__fd(map);
  for (size_t done = 0; done < values.size(); done += kChunk) {
    const size_t n = std::min(kChunk, values.size() - done);
    keys.resize(n);
    for (size_t i = 0; i < n; ++i) keys[i] = first + static_cast<uint32_t>(done + i);
    __u32 count = static_cast<__u32>(n);
    if (int err = bpf_map_update_batch(fd, keys.data(), values.data() + done, &count, nullptr);
        err != 0) {
      return Status::FromErrno(fmt::format("writing unwind table {} to the BPF map", what), -err);
    }
  }
  return Status::Ok();
}

}  // namespace

Status BpfSampler::WriteRows(uint32_t first_row, std::span<const profkit_unwind_row> rows) {
  if (first_row % 2 != 0 || rows.size() % 2 != 0) {
    return Status::Internalf("unwind rows [{}, +{}) do not fill whole row pairs", first_row,
                             rows.size());
  }
  // A pair is two rows in order and the array's elements are contiguous: the mapped array is the
  // row array.
  return WriteMapped(skel_->maps.unwind_rows, unwind_row_capacity_, first_row, rows, "rows");
}

Status BpfSampler::WritePages(uint32_t first_page, std::span<const profkit_unwind_page> pages) {
  return WriteMapped(skel_->maps.unwind_pages, unwind_page_capacity_, first_page, pages, "pages");
}

template <typename T>
Status BpfSampler::WriteMapped(bpf_map* map, size_t capacity, uint32_t first,
                               std::span<const T> values, std::string_view what) {
  return WithMappedEntries(
      map, capacity, sizeof(T), first, values.size(), PROT_READ | PROT_WRITE, what,
      [&](char* entries) { std::memcpy(entries, values.data(), values.size_bytes()); });
}

template <typename T>
Status BpfSampler::ReadMapped(bpf_map* map, size_t capacity, uint32_t first, std::span<T> out,
                              std::string_view what) {
  return WithMappedEntries(
      map, capacity, sizeof(T), first, out.size(), PROT_READ, what,
      [&](char* entries) { std::memcpy(out.data(), entries, out.size_bytes()); });
}

Status BpfSampler::WithMappedEntries(bpf_map* map, size_t capacity, size_t entry_size,
                                     uint32_t first, size_t count, int protection,
                                     std::string_view what,
                                     const std::function<void(char*)>& copy) {
  if (first > capacity || count > capacity - first) {
    return Status::Internalf("unwind table {} [{}, +{}) outside the BPF map of {}", what, first,
                             count, capacity);
  }
  if (count == 0) return Status::Ok();
  static const size_t page_size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t begin = size_t{first} * entry_size;
  const size_t window_start = begin & ~(page_size - 1);
  const size_t window_bytes = begin + count * entry_size - window_start;
  void* window = mmap(nullptr, window_bytes, protection, MAP_SHARED, bpf_map__fd(map),
                      static_cast<off_t>(window_start));
  if (window == MAP_FAILED) {
    return Status::FromErrno(
        fmt::format("mapping the BPF array {} for unwind table {}", bpf_map__name(map), what),
        errno);
  }
  copy(static_cast<char*>(window) + (begin - window_start));
  munmap(window, window_bytes);
  return Status::Ok();
}

Status BpfSampler::WriteInfos(uint32_t first_info, std::span<const profkit_unwind_info> infos) {
  return WriteArray(skel_->maps.unwind_infos, size_t{PROFKIT_UNWIND_MAX_INFOS}, first_info, infos,
                    "rules");
}

Status BpfSampler::ReadRows(uint32_t first_row, std::span<profkit_unwind_row> out) const {
  return ReadMapped(skel_->maps.unwind_rows, unwind_row_capacity_, first_row, out, "rows");
}

Status BpfSampler::ReadPages(uint32_t first_page, std::span<profkit_unwind_page> out) const {
  return ReadMapped(skel_->maps.unwind_pages, unwind_page_capacity_, first_page, out, "pages");
}

Status BpfSampler::ReadInfo(uint32_t index, profkit_unwind_info& out) const {
  if (int err = bpf_map__lookup_elem(skel_->maps.unwind_infos, &index, sizeof(index), &out,
                                     sizeof(out), 0);
      err != 0) {
    return Status::FromErrno(fmt::format("reading unwind rule {} from the BPF map", index), -err);
  }
  return Status::Ok();
}

Status BpfSampler::SetProcess(uint32_t pid, const profkit_unwind_process& process) {
  if (int err = bpf_map__update_elem(skel_->maps.unwind_processes, &pid, sizeof(pid), &process,
                                     sizeof(process), BPF_ANY);
      err != 0) {
    return Status::FromErrno(fmt::format("registering process {} with the native unwinder", pid),
                             -err);
  }
  return Status::Ok();
}

void BpfSampler::RemoveProcess(uint32_t pid) {
  bpf_map__delete_elem(skel_->maps.unwind_processes, &pid, sizeof(pid), 0);
}

SamplerCounters BpfSampler::counters() const {
  SamplerCounters counters;
  counters.samples = samples_.load(std::memory_order_relaxed);
  counters.process_events = process_events_.load(std::memory_order_relaxed);
  counters.decode_errors = decode_errors_.load(std::memory_order_relaxed);
  counters.off_cpu_records = off_cpu_records_.load(std::memory_order_relaxed);

  // A per-CPU map lookup returns one value per possible CPU.
  const int possible_cpus = libbpf_num_possible_cpus();
  if (possible_cpus <= 0) return counters;
  std::vector<uint64_t> values(possible_cpus);
  auto sum = [&](uint32_t index) -> uint64_t {
    if (bpf_map__lookup_elem(skel_->maps.counters, &index, sizeof(index), values.data(),
                             values.size() * sizeof(uint64_t), 0) != 0) {
      return 0;  // the map lives as long as the sampler; a failure here is not expected
    }
    uint64_t total = 0;
    for (const uint64_t v : values) total += v;
    return total;
  };
  counters.ringbuf_drops = sum(PROFKIT_COUNTER_RINGBUF_DROPS);
  counters.stack_errors = sum(PROFKIT_COUNTER_STACK_ERRORS);
  counters.python_samples = sum(PROFKIT_COUNTER_PYTHON_SAMPLES);
  counters.python_walk_failures = sum(PROFKIT_COUNTER_PYTHON_WALK_FAILURES);
  counters.unwind_samples = sum(PROFKIT_COUNTER_UNWIND_SAMPLES);
  counters.unwind_truncated = sum(PROFKIT_COUNTER_UNWIND_TRUNCATED);
  counters.unwind_fp_frames = sum(PROFKIT_COUNTER_UNWIND_FP_FRAMES);
  counters.unwind_ns = sum(PROFKIT_COUNTER_UNWIND_NS);
  counters.off_cpu_switches = sum(PROFKIT_COUNTER_OFF_CPU_SWITCHES);
  counters.off_cpu_sampled = sum(PROFKIT_COUNTER_OFF_CPU_SAMPLED);
  counters.off_cpu_short = sum(PROFKIT_COUNTER_OFF_CPU_SHORT);
  counters.off_cpu_dropped = sum(PROFKIT_COUNTER_OFF_CPU_DROPPED);
  return counters;
}

}  // namespace profkit::sampling
