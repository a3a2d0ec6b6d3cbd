#include "profkit/pyroscope/convert.h"
#include "profkit/common/quoted.h"

#include <array>
#include <charconv>
#include <unordered_map>
#include <utility>
#include <vector>

#include "profkit/ingest/upload_rewrite.h"
#include "profkit/profile/pprof_builder.h"

namespace profkit::pyroscope {
namespace {

using profile::ProfileHeader;
using profile::ValueType;

struct SampleShape {
  ProfileHeader header;
  int64_t period = 0;  // > 0: a second value count × period follows the count
};

SampleShape ShapeFor(const FoldedOptions& options) {
  const std::string_view metric = options.metric;
  const std::string_view units = options.units;
  SampleShape shape;
  ProfileHeader& header = shape.header;
  const auto single = [&](std::string type, std::string unit) {
    header.sample_types = {{type, unit}};
    header.period_type = {std::move(type), std::move(unit)};
    header.period = 1;
  };
  if (units.empty() || units == "samples") {
    const std::string clock = metric == "wall" ? "wall" : "cpu";
    shape.period = 1'000'000'000 / options.sample_rate;
    header.sample_types = {{"samples", "count"}, {clock, "nanoseconds"}};
    header.period_type = {clock, "nanoseconds"};
    header.period = shape.period;
  } else if (units == "objects") {
    single(metric.ends_with("_objects") ? std::string(metric) : "objects", "count");
  } else if (units == "bytes") {
    single(metric.ends_with("_space") ? std::string(metric) : "space", "bytes");
  } else if (units == "goroutines") {
    single("goroutine", "count");
  } else if (units == "lock_samples") {
    single("contentions", "count");
  } else if (units == "lock_nanoseconds") {
    single("delay", "nanoseconds");
  } else {
    single(std::string(units), "count");
  }
  header.time_nanos = options.start_unix_nanos;
  header.duration_nanos = options.end_unix_nanos - options.start_unix_nanos;
  return shape;
}

bool HasType(std::span<const std::string> sample_types, std::string_view part) {
  for (const std::string& type : sample_types) {
    if (type.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

Result<FoldedProfile> FoldedToPprof(std::string_view text, const FoldedOptions& options) {
  const SampleShape shape = ShapeFor(options);
  profile::PprofBuilder builder(shape.header);
  std::vector<uint64_t> locations;
  // Frames repeat across lines; views into `text`, which outlives the map.
  std::unordered_map<std::string_view, uint64_t> location_of;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    int64_t count = 1;
    std::string_view stack = line;
    if (!options.lines) {
      const size_t space = line.rfind(' ');
      if (space == std::string_view::npos) {
        return Status::InvalidInputf("line {}: no count after the stack (\"a;b;c 12\")",
                                     line_number);
      }
      const std::string_view number = line.substr(space + 1);
      const auto [end, error] =
          std::from_chars(number.data(), number.data() + number.size(), count);
      if (error != std::errc() || end != number.data() + number.size() || count < 0 ||
          count > kMaxFoldedCount) {
        return Status::InvalidInputf("line {}: the count {} is not an integer in 0..{}",
                                     line_number, Quoted(number), kMaxFoldedCount);
      }
      stack = line.substr(0, space);
    }
    if (count == 0) continue;
    locations.clear();
    while (true) {
      const size_t semicolon = stack.rfind(';');
      const std::string_view frame =
          semicolon == std::string_view::npos ? stack : stack.substr(semicolon + 1);
      if (locations.size() == kMaxFoldedFrames) {
        return Status::InvalidInputf("line {}: more than {} frames", line_number, kMaxFoldedFrames);
      }
      if (!frame.empty()) {
        auto [it, added] = location_of.try_emplace(frame, 0);
        if (added) {
          it->second = builder.AddLocation(profile::PprofLocation{
              .lines = {profile::PprofLine{.function_name = std::string(frame)}}});
        }
        locations.push_back(it->second);
      }
      if (semicolon == std::string_view::npos) break;
      stack = stack.substr(0, semicolon);
    }
    if (locations.empty()) return Status::InvalidInputf("line {}: the stack is empty", line_number);
    const std::array<int64_t, 2> values = {count, count * shape.period};
    builder.AddSample(locations, std::span(values.data(), shape.period > 0 ? 2 : 1), {});
  }
  FoldedProfile out;
  PROFKIT_ASSIGN_OR_RETURN(out.gzip, builder.SerializeGzip());
  for (const ValueType& type : shape.header.sample_types) out.sample_types.push_back(type.type);
  return out;
}

std::string LanguageForSpy(std::string_view spy_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kSpies = {{
      {"gospy", "golang"},
      {"pyspy", "python"},
      {"rbspy", "ruby"},
      {"nodespy", "nodejs"},
      {"dotnetspy", "dotnet"},
      {"ebpfspy", "cpp"},
      {"phpspy", "php"},
      {"javaspy", "java"},
      {"pyroscope-rs", "rust"},
  }};
  for (const auto& [spy, language] : kSpies) {
    if (spy == spy_name) return std::string(language);
  }
  std::string_view name = spy_name;
  if (name.ends_with("spy")) name.remove_suffix(3);
  if (name.empty()) return "unknown";
  return ingest::ResolveLanguage({std::string(name)});
}

std::vector<std::string> SampleTypes(const perftools::profiles::Profile& profile) {
  std::vector<std::string> types;
  for (const auto& type : profile.sample_type()) types.push_back(profile.string_table(type.type()));
  return types;
}

std::string AttachmentName(std::span<const std::string> sample_types, std::string_view hint,
                           std::string_view spy_name) {
  const bool go = spy_name == "gospy";
  const auto has = [&](std::string_view part) {
    return hint.find(part) != std::string_view::npos || HasType(sample_types, part);
  };
  if (has("wall")) return "wall.pprof";
  if (has("cpu") || has("samples")) return "cpu.pprof";
  if (has("goroutine")) return "goroutines.pprof";
  if (has("block")) return go ? "delta-block.pprof" : "block.pprof";
  if (has("mutex") || has("contentions") || has("delay") || has("lock")) {
    return go ? "delta-mutex.pprof" : "mutex.pprof";
  }
  if (has("alloc_") || has("inuse_") || has("space") || has("objects") || has("memory")) {
    return go ? "delta-heap.pprof" : "heap.pprof";
  }
  return "profile.pprof";
}

}  // namespace profkit::pyroscope
