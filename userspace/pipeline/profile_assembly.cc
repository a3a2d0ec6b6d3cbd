#include "profkit/pipeline/profile_assembly.h"

#include <fmt/format.h>

#include <unordered_map>
#include <utility>

#include "profkit/profile/pprof_builder.h"

namespace profkit::pipeline {
namespace {

class LocationTable {
 public:
  LocationTable(profile::PprofBuilder& builder, FrameSymbolizer& symbolizer)
      : builder_(builder), symbolizer_(symbolizer) {}

  // Adds `path`'s mapping before any other: the mapping of a sampled frame in that module when
  // there is one (with its build id and flags), else one that names the file only.
  void AddMainExecutable(std::string_view path,
                         const std::vector<std::pair<profile::StackSample, int64_t>>& stacks) {
    for (const auto& [sample, count] : stacks) {
      for (const profile::Frame& frame : sample.frames) {
        if (frame.kind != profile::FrameKind::kNative || frame.module_id == profile::kUnknownModule)
          continue;
        const symbolize::ModuleInfo* module = symbolizer_.native().Module(frame.module_id);
        if (module != nullptr && module->path == path) {
          LocationOf(frame);
          return;
        }
      }
    }
    builder_.AddMapping(profile::PprofMapping{.filename = std::string(path)});
  }

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
        kernel_mapping_ = builder_.AddMapping(profile::PprofMapping{
            .filename = std::string(profile::kKernelMappingName), .has_functions = true});
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

std::vector<uint32_t> ViewFramesOf(const profile::Frame& frame, FrameSymbolizer& symbolizer,
                                   profile::StackProfile& out) {
  std::string module;
  if (frame.kind == profile::FrameKind::kKernel) {
    module = profile::kKernelMappingName;
  } else if (frame.kind == profile::FrameKind::kNative &&
             frame.module_id != profile::kUnknownModule) {
    const symbolize::ModuleInfo* info = symbolizer.native().Module(frame.module_id);
    if (info != nullptr) module = info->path;
  }
  const SymbolizedFrame& symbolized = symbolizer.Symbolize(frame);
  std::vector<uint32_t> ids;
  for (auto line = symbolized.lines.rbegin(); line != symbolized.lines.rend(); ++line) {
    ids.push_back(out.InternFrame(profile::ViewFrame{.kind = frame.kind,
                                                     .function = line->function_name,
                                                     .file = line->filename,
                                                     .line = line->line,
                                                     .module = module}));
  }
  return ids;
}

}  // namespace

Result<std::string> BuildServicePprof(const profile::Aggregator::ServiceStacks& stacks,
                                      FrameSymbolizer& symbolizer, const IntervalTiming& timing,
                                      std::string_view main_executable) {
  profile::PprofBuilder builder(
      profile::ProfileHeader{.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}},
                             .period_type = {"cpu", "nanoseconds"},
                             .period = timing.sample_period_ns,
                             .time_nanos = timing.start_unix_ns,
                             .duration_nanos = timing.end_unix_ns - timing.start_unix_ns});
  LocationTable locations(builder, symbolizer);
  if (!main_executable.empty()) locations.AddMainExecutable(main_executable, stacks.stacks);
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

profile::StackProfile BuildStackProfile(
    const std::vector<profile::Aggregator::ServiceStacks>& services, FrameSymbolizer& symbolizer) {
  profile::StackProfile out;
  // Each distinct frame's view frames, root first (SymbolizedFrame lists inlined ones innermost
  // first).
  std::unordered_map<profile::Frame, std::vector<uint32_t>, profile::FrameHash> view_frames;
  std::vector<uint32_t> stack;
  for (const profile::Aggregator::ServiceStacks& service : services) {
    for (const auto& [sample, count] : service.stacks) {
      stack.clear();
      for (auto frame = sample.frames.rbegin(); frame != sample.frames.rend(); ++frame) {
        auto [it, inserted] = view_frames.try_emplace(*frame);
        if (inserted) it->second = ViewFramesOf(*frame, symbolizer, out);
        stack.insert(stack.end(), it->second.begin(), it->second.end());
      }
      out.AddStack(stack, count,
                   out.InternThread(fmt::format("{} ({})", sample.thread_name, sample.tid)));
    }
  }
  return out;
}

}  // namespace profkit::pipeline
