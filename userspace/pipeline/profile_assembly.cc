#include "profkit/pipeline/profile_assembly.h"

#include <fmt/format.h>

#include <limits>
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
  void AddMainExecutable(
      std::string_view path,
      const std::vector<std::pair<profile::StackSample, profile::StackValues>>& stacks) {
    for (const auto& [sample, values] : stacks) {
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

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<int64_t>::max() : sum;
}

int64_t SaturatingMultiply(int64_t a, int64_t b) {
  int64_t product;
  return __builtin_mul_overflow(a, b, &product) ? std::numeric_limits<int64_t>::max() : product;
}

constexpr std::pair<StackValueType, std::string_view> kValueNames[] = {
    {StackValueType::kSamples, "samples"}, {StackValueType::kCpu, "cpu"},
    {StackValueType::kOffCpu, "off-cpu"},  {StackValueType::kOffCpuEvents, "off-cpu-events"},
    {StackValueType::kWall, "wall"},
};

}  // namespace

std::optional<StackValueType> ParseStackValueType(std::string_view name) {
  for (const auto& [value, value_name] : kValueNames) {
    if (value_name == name) return value;
  }
  return std::nullopt;
}

profile::ValueType ValueTypeOf(StackValueType value) {
  for (const auto& [known, name] : kValueNames) {
    if (known != value) continue;
    const bool count = value == StackValueType::kSamples || value == StackValueType::kOffCpuEvents;
    return profile::ValueType{std::string(name), count ? "count" : "nanoseconds"};
  }
  return {};
}

int64_t StackValueOf(const profile::StackValues& values, StackValueType value,
                     int64_t sample_period_ns) {
  switch (value) {
    case StackValueType::kSamples:
      return values.samples;
    case StackValueType::kCpu:
      return SaturatingMultiply(values.samples, sample_period_ns);
    case StackValueType::kOffCpu:
      return values.off_cpu_ns;
    case StackValueType::kOffCpuEvents:
      return values.off_cpu_events;
    case StackValueType::kWall:
      return SaturatingAdd(SaturatingMultiply(values.samples, sample_period_ns), values.off_cpu_ns);
  }
  return 0;
}

Result<std::string> BuildServicePprof(const profile::Aggregator::ServiceStacks& stacks,
                                      FrameSymbolizer& symbolizer, const IntervalTiming& timing,
                                      std::string_view main_executable, bool off_cpu) {
  std::vector<StackValueType> types = {StackValueType::kSamples, StackValueType::kCpu};
  if (off_cpu) {
    types.insert(types.end(),
                 {StackValueType::kOffCpu, StackValueType::kOffCpuEvents, StackValueType::kWall});
  }
  std::vector<profile::ValueType> sample_types;
  for (const StackValueType type : types) sample_types.push_back(ValueTypeOf(type));
  profile::PprofBuilder builder(
      profile::ProfileHeader{.sample_types = std::move(sample_types),
                             .period_type = {"cpu", "nanoseconds"},
                             .period = timing.sample_period_ns,
                             .time_nanos = timing.start_unix_ns,
                             .duration_nanos = timing.end_unix_ns - timing.start_unix_ns});
  LocationTable locations(builder, symbolizer);
  if (!main_executable.empty()) locations.AddMainExecutable(main_executable, stacks.stacks);
  std::vector<uint64_t> location_ids;
  std::vector<int64_t> values(types.size());
  for (const auto& [sample, stack_values] : stacks.stacks) {
    location_ids.clear();
    for (const profile::Frame& frame : sample.frames)
      location_ids.push_back(locations.LocationOf(frame));
    for (size_t i = 0; i < types.size(); ++i) {
      values[i] = StackValueOf(stack_values, types[i], timing.sample_period_ns);
    }
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
    const std::vector<profile::Aggregator::ServiceStacks>& services, FrameSymbolizer& symbolizer,
    const IntervalTiming& timing, StackValueType value) {
  profile::StackProfile out;
  const profile::ValueType type = ValueTypeOf(value);
  out.info.value_name = type.type;
  out.info.value_unit = type.unit;
  // Each distinct frame's view frames, root first (SymbolizedFrame lists inlined ones innermost
  // first).
  std::unordered_map<profile::Frame, std::vector<uint32_t>, profile::FrameHash> view_frames;
  std::vector<uint32_t> stack;
  for (const profile::Aggregator::ServiceStacks& service : services) {
    for (const auto& [sample, values] : service.stacks) {
      const int64_t stack_value = StackValueOf(values, value, timing.sample_period_ns);
      if (stack_value <= 0) continue;
      stack.clear();
      for (auto frame = sample.frames.rbegin(); frame != sample.frames.rend(); ++frame) {
        auto [it, inserted] = view_frames.try_emplace(*frame);
        if (inserted) it->second = ViewFramesOf(*frame, symbolizer, out);
        stack.insert(stack.end(), it->second.begin(), it->second.end());
      }
      out.AddStack(stack, stack_value,
                   out.InternThread(fmt::format("{} ({})", sample.thread_name, sample.tid)));
    }
  }
  return out;
}

}  // namespace profkit::pipeline
