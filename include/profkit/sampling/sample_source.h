// Where decoded sampling records come from: the live BPF sampler (bpf_sampler.h, root) or a
// replay of a captured record file (replay_source.h, no root). `run` and `record` take one by
// injection, so the road above it (SamplePipeline, SamplingLoop, Agent) runs in unit tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "profkit/common/status.h"
#include "profkit/sampling/python_registry.h"
#include "profkit/sampling/record.h"
#include "profkit/sampling/sampler_options.h"
#include "profkit/unwind/unwind_maps.h"

namespace profkit::sampling {

struct SamplerCounters {
  uint64_t samples = 0;               // sample records decoded
  uint64_t process_events = 0;        // exec/fork/exit records decoded
  uint64_t ringbuf_drops = 0;         // records lost in BPF because the ring buffer was full
  uint64_t stack_errors = 0;          // bpf_get_stack() failures (kernel or user)
  uint64_t decode_errors = 0;         // ring-buffer records that did not decode
  uint64_t python_samples = 0;        // samples of registered CPython processes
  uint64_t python_walk_failures = 0;  // of those, samples without any Python frame
  uint64_t unwind_samples = 0;        // user stacks walked with unwind tables
  uint64_t unwind_truncated = 0;      // of those, walks that did not reach the stack's end
  uint64_t unwind_fp_frames = 0;      // frames they stepped by frame pointer (no table)
  uint64_t unwind_ns = 0;             // time spent in those walks
  uint64_t off_cpu_records = 0;       // off-CPU records decoded (of the samples above)
  uint64_t off_cpu_switches = 0;      // switches away from threads that passed the filters
  uint64_t off_cpu_sampled = 0;       // of those, the 1 in N timed
  uint64_t off_cpu_short = 0;         // walked waits shorter than the minimum (ignored)
  uint64_t off_cpu_dropped = 0;       // sampled waits lost (task storage/ring buffer full)
};

using RecordHandler = std::function<void(const Record&)>;
// Sees the bytes of every record before it is decoded (even those that fail to decode), as the
// BPF side wrote them; `profkit record --dump-records` captures them with it.
using RawRecordTap = std::function<void(std::span<const uint8_t>)>;

class SampleSource : public PythonProcessRegistry {
 public:
  // Waits up to `timeout` for records, decodes every available one and calls on_record (which
  // must not throw) for each. Returns the number handed to on_record; records that fail to
  // decode are counted (decode_errors) and skipped, not returned as errors. Called from one
  // thread (the reader).
  virtual Result<int> Poll(std::chrono::milliseconds timeout, const RecordHandler& on_record) = 0;
  // Read on the reader thread (BpfSampler's are safe from any thread).
  virtual SamplerCounters counters() const = 0;
  // True once no record will ever arrive again (a replay at its end); a live sampler never is.
  virtual bool exhausted() const = 0;
  // At most one tap; an empty function removes it. Set before the first Poll.
  virtual void SetRawRecordTap(RawRecordTap tap) = 0;
  // Where native unwind tables are loaded (the BPF sampler's maps); null when the source has none
  // (a replay, SamplerOptions::unwind_table_bytes = 0): stacks then come from frame pointers.
  virtual unwind::UnwindMaps* unwind_maps() { return nullptr; }
};

// How `run` and `record` get their source: main.cc passes one that starts the BPF sampler
// (or, in a build without BPF, one that explains why there is none); tests pass fakes.
using SampleSourceFactory =
    std::function<Result<std::unique_ptr<SampleSource>>(const SamplerOptions& options)>;

}  // namespace profkit::sampling
