// The kernel-facing sampler: loads the BPF skeleton, drives it with a CPU-clock perf event per
// online CPU, attaches the process lifecycle tracepoints and reads their ring buffer. Needs root
// (or CAP_BPF + CAP_PERFMON); everything it produces is decoded by record.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "profkit/common/status.h"
#include "profkit/sampling/sample_source.h"

struct bpf_link;
struct bpf_map;
struct profkit_bpf;
struct ring_buffer;

namespace profkit::sampling {

class BpfSampler final : public SampleSource, private unwind::UnwindMaps {
 public:
  // Loads the skeleton, opens a PERF_COUNT_SW_CPU_CLOCK perf event (frequency mode) on every
  // online CPU, attaches the sampling program to each and attaches the tracepoints. Errors name
  // the step and give a remediation hint.
  static Result<std::unique_ptr<BpfSampler>> Start(const SamplerOptions& options);

  BpfSampler(const BpfSampler&) = delete;
  BpfSampler& operator=(const BpfSampler&) = delete;
  // Detaches and closes everything.
  ~BpfSampler() override;

  // Waits up to `timeout` for ring-buffer data, decodes every available record and calls
  // on_record (which must not throw) for each. Returns the number of records handed to
  // on_record; an interrupted wait (EINTR) is not an error. The BPF side wakes the reader only
  // when a quarter of the buffer is used, so a normal call waits the whole timeout and then
  // drains: call it in a loop with the latency you accept (e.g. 100 ms). Records that fail to
  // decode are counted and logged (rate-limited), not returned as errors. Not thread-safe.
  Result<int> Poll(std::chrono::milliseconds timeout, const RecordHandler& on_record) override;
  bool exhausted() const override { return false; }
  void SetRawRecordTap(RawRecordTap tap) override { raw_tap_ = std::move(tap); }

  Status RegisterPythonProcess(uint32_t pid, const profkit_python_process& layout) override;
  void UnregisterPythonProcess(uint32_t pid) override;

  // BPF-side counters summed over CPUs, plus the userspace ones. Safe from any thread.
  SamplerCounters counters() const override;

  unwind::UnwindMaps* unwind_maps() override { return unwind_row_capacity_ > 0 ? this : nullptr; }

 private:
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;
  struct SkeletonDeleter {
    void operator()(profkit_bpf* skel) const;
  };
  struct RingBufferDeleter {
    void operator()(ring_buffer* rb) const;
  };

  BpfSampler() = default;
  // unwind::UnwindMaps: the unwind_rows, unwind_pages, unwind_infos and unwind_processes maps.
  // Safe from any thread.
  size_t row_capacity() const override { return unwind_row_capacity_; }
  size_t page_capacity() const override { return unwind_page_capacity_; }
  Status WriteRows(uint32_t first_row, std::span<const profkit_unwind_row> rows) override;
  Status WritePages(uint32_t first_page, std::span<const profkit_unwind_page> pages) override;
  Status WriteInfos(uint32_t first_info, std::span<const profkit_unwind_info> infos) override;
  Status ReadRows(uint32_t first_row, std::span<profkit_unwind_row> out) const override;
  Status ReadPages(uint32_t first_page, std::span<profkit_unwind_page> out) const override;
  Status ReadInfo(uint32_t index, profkit_unwind_info& out) const override;
  Status SetProcess(uint32_t pid, const profkit_unwind_process& process) override;
  void RemoveProcess(uint32_t pid) override;

  // Copies values[i] to index first + i of a BPF array (BPF_F_MMAPABLE) of `capacity` entries,
  // through a mapping of the pages written only. Mapping a whole array would put all of it (tens
  // of MiB, populated when mapped) in the agent's RSS for as long as it runs.
  template <typename T>
  static Status WriteMapped(bpf_map* map, size_t capacity, uint32_t first,
                            std::span<const T> values, std::string_view what);
  // The reverse, through a read-only mapping of the pages read.
  template <typename T>
  static Status ReadMapped(bpf_map* map, size_t capacity, uint32_t first, std::span<T> out,
                           std::string_view what);
  // Maps the pages of entries [first, first + count) of `map` with `protection` and calls
  // copy(pointer to entry `first`).
  static Status WithMappedEntries(bpf_map* map, size_t capacity, size_t entry_size, uint32_t first,
                                  size_t count, int protection, std::string_view what,
                                  const std::function<void(char*)>& copy);

  Status AttachPerfEvents(const SamplerOptions& options);
  Status AttachTracepoints();
  // The off-CPU program (bpf/off_cpu.bpf.h) on tp_btf/sched_switch.
  Status AttachOffCpu();
  static int HandleRecord(void* ctx, void* data, size_t size);

  // Destroyed bottom-up: the links first, then the ring-buffer reader, then the skeleton whose
  // maps and programs they use.
  std::unique_ptr<profkit_bpf, SkeletonDeleter> skel_;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring_buffer_;
  std::vector<LinkPtr> links_;

  // Valid only during Poll().
  const RecordHandler* on_record_ = nullptr;
  RawRecordTap raw_tap_;
  int handled_in_poll_ = 0;

  size_t unwind_row_capacity_ = 0;
  size_t unwind_page_capacity_ = 0;
  std::atomic<uint64_t> samples_{0};
  std::atomic<uint64_t> process_events_{0};
  std::atomic<uint64_t> decode_errors_{0};
  std::atomic<uint64_t> off_cpu_records_{0};
};

}  // namespace profkit::sampling
