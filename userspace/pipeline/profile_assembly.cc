#include "profkit/pipeline/profile_assembly.h"

#include <unordered_map>

#include "profkit/profile/collapsed_writer.h"
#include "profkit/profile/pprof_builder.h"

namespace profkit::pipeline {
namespace {

constexpr char kKernelMappingName[] = "[kernel.kallsyms]";

class LocationTable {
 public:
  LocationTable(profile::PprofBuilder& builder, FrameSymbolizer& symbolizer)
      : builder_(builder), symbolizer_(symbolizer) {}

  uint64_t LocationOf(const profile::Frame& frame) {
    auto it = locations_.find(frame);
    if (it != locations_.end()) return it->second;
    const SymbolizedFrame& symbolized = symbolizer_.Symbolize(frame);
    // A Python frame's `address` is its line, not a code address.
    const bool python = frame.kind == profile::FrameKind::kPython;
    const uint64_t id =
        builder_.AddLocation(profile::PprofLocation{.mapping_id = MappingOf(frame, symbolized),
                                                    .address = python ? 0 : frame.address,
                                                    .lines = symbolized.lines});
    locations_.emplace(frame, id);
    return id;
  }

 private:
  uint64_t MappingOf(const profile::Frame& frame, const SymbolizedFrame& symbolized) {
    if (frame.kind == profile::FrameKind::kKernel) {
      if (kernel_mapping_ == 0) {
        kernel_mapping_ = builder_.AddMapping(
            profile::PprofMapping{.filename = kKernelMappingName, .has_functions = true});
      }
      return kernel_mapping_;
    }
    // Python code has no mapping: its functions carry file and line themselves.
    if (frame.kind == profile::FrameKind::kPython || frame.module_id == profile::kUnknownModule) {
      return 0;
    }
    auto it = mappings_.find(frame.module_id);
    if (it != mappings_.end()) return it->second;
    const symbolize::ModuleInfo* module = symbolizer_.native().Module(frame.module_id);
    uint64_t id = 0;
    if (module != nullptr) {
      id = builder_.AddMapping(profile::PprofMapping{
          .memory_start = 0,
          .memory_limit = module->file_size,
          .file_offset = 0,
          .filename = module->path,
          .build_id = module->build_id,
          .has_functions = symbolized.symbol_found,
          .has_filenames = symbolized.symbol_found && !symbolized.lines.front().filename.empty(),
          .has_line_numbers = symbolized.symbol_found && symbolized.lines.front().line != 0});
    }
    mappings_.emplace(frame.module_id, id);
    return id;
  }

  profile::PprofBuilder& builder_;
  FrameSymbolizer& symbolizer_;
  std::unordered_map<profile::Frame, uint64_t, profile::FrameHash> locations_;
  std::unordered_map<uint32_t, uint64_t> mappings_;
  uint64_t kernel_mapping_ = 0;
};

}  // namespace

Result<std::string> BuildServicePprof(const profile::Aggregator::ServiceStacks& stacks,
                                      FrameSymbolizer& symbolizer, const IntervalTiming& timing) {
  profile::PprofBuilder builder(
      profile::ProfileHeader{.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}},
                             .period_type = {"cpu", "nanoseconds"},
                             .period = timing.sample_period_ns,
                             .time_nanos = timing.start_unix_ns,
                             .duration_nanos = timing.end_unix_ns - timing.start_unix_ns});
  LocationTable locations(builder, symbolizer);
  std::vector<uint64_t> location_ids;
  for (const auto& [sample, count] : stacks.stacks) {
    location_ids.clear();
    for (const profile::Frame& frame : sample.frames)
      location_ids.push_back(locations.LocationOf(frame));
    const int64_t values[] = {count, count * timing.sample_period_ns};
    const profile::PprofLabel labels[] = {
        {.key = "pid", .num = sample.pid, .numeric = true},
        {.key = "tid", .num = sample.tid, .numeric = true},
        {.key = "thread_name", .str = sample.thread_name},
    };
    builder.AddSample(location_ids, values, labels);
  }
  return builder.SerializeGzip();
}

std::string BuildCollapsed(const std::vector<profile::Aggregator::ServiceStacks>& services,
                           FrameSymbolizer& symbolizer) {
  profile::CollapsedWriter writer;
  std::vector<std::string> names;
  for (const profile::Aggregator::ServiceStacks& service : services) {
    for (const auto& [sample, count] : service.stacks) {
      names.clear();
      for (auto frame = sample.frames.rbegin(); frame != sample.frames.rend(); ++frame) {
        std::vector<std::string> frame_names = symbolizer.CollapsedNames(*frame);
        // Inlined functions are listed innermost first; root-first order needs the outer one first.
        names.insert(names.end(), std::make_move_iterator(frame_names.rbegin()),
                     std::make_move_iterator(frame_names.rend()));
      }
      writer.Add(names, count);
    }
  }
  return writer.Finish();
}

}  // namespace profkit::pipeline
