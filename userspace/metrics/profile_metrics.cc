#include "profkit/metrics/profile_metrics.h"
#include "profkit/common/quoted.h"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "profkit/common/compression.h"
#include "profkit/metrics/pprof_sums.h"

namespace profkit::metrics {
namespace {

struct Duration {
  int64_t ns;
  double seconds;
};

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::optional<int64_t> Find(const SampleSums& sums, std::string_view type) {
  if (const auto it = sums.find(type); it != sums.end()) return it->second;
  return std::nullopt;
}

class FieldList {
 public:
  bool Has(std::string_view key) const {
    for (const Field& field : fields_) {
      if (field.key == key) return true;
    }
    return false;
  }
  void Add(std::string key, int64_t value) { fields_.push_back({std::move(key), value}); }
  void Add(std::string key, double value) { fields_.push_back({std::move(key), value}); }
  void Set(std::string_view key, double value) {
    for (Field& field : fields_) {
      if (field.key == key) {
        field.value = value;
        return;
      }
    }
    Add(std::string(key), value);
  }
  std::vector<Field> Take() { return std::move(fields_); }

 private:
  std::vector<Field> fields_;
};

Result<SampleSums> Sum(const ProfileFile& file, size_t max_part_bytes) {
  Result<SampleSums> sums = SumPprof(file.data, max_part_bytes);
  if (!sums.ok()) return std::move(sums).WithContext(fmt::format("part {}", Quoted(file.name)));
  return sums;
}

// dd-trace-py (docs/datakit-protocol.md §3.2): the part named auto, main or prof, else one whose
// name ends in .pprof, else by filename; exact names first, then upload order, so the choice is
// deterministic (docs/datakit-protocol.md §5 row 14).
const ProfileFile* PickPythonFile(const std::vector<ProfileFile>& files) {
  for (std::string_view wanted : {"auto", "main", "prof"}) {
    for (const ProfileFile& file : files) {
      if (file.name == wanted) return &file;
    }
  }
  for (const ProfileFile& file : files) {
    if (EndsWith(file.name, ".pprof")) return &file;
  }
  for (const ProfileFile& file : files) {
    if (file.filename == "auto" || file.filename == "main" || EndsWith(file.filename, ".pprof")) {
      return &file;
    }
  }
  return nullptr;
}

Result<std::vector<Field>> PythonFields(const ProfileInput& input, Duration d,
                                        size_t max_part_bytes) {
  const ProfileFile* file = PickPythonFile(input.files);
  if (file == nullptr) return std::vector<Field>{};
  PROFKIT_ASSIGN_OR_RETURN(SampleSums sums, Sum(*file, max_part_bytes));
  FieldList fields;
  // dd-trace-py names CPU time "cpu-time"; profkit's eBPF Python profiles "cpu" (on-CPU ns).
  std::optional<int64_t> cpu = Find(sums, "cpu-time");
  if (!cpu) cpu = Find(sums, "cpu");
  if (cpu)
    fields.Add("prof_python_cpu_cores", static_cast<double>(*cpu) / static_cast<double>(d.ns));
  if (auto v = Find(sums, "alloc-space")) {
    fields.Add("prof_python_alloc_bytes_total", *v);
    fields.Add("prof_python_alloc_bytes_per_sec", static_cast<double>(*v) / d.seconds);
  }
  if (auto v = Find(sums, "alloc-samples")) {
    fields.Add("prof_python_allocs_per_sec", static_cast<double>(*v) / d.seconds);
  }
  if (auto v = Find(sums, "lock-acquire")) {
    fields.Add("prof_python_lock_acquisitions_per_sec", static_cast<double>(*v) / d.seconds);
  }
  if (auto v = Find(sums, "lock-acquire-wait")) fields.Add("prof_python_lock_acquisition_time", *v);
  if (auto v = Find(sums, "lock-release-hold")) fields.Add("prof_python_lock_hold_time", *v);
  if (auto v = Find(sums, "exception-samples")) {
    fields.Add("prof_python_exceptions_total", *v);
    fields.Add("prof_python_exceptions_per_sec", static_cast<double>(*v) / d.seconds);
  }
  // dd-trace-py's "wall-time"; profkit's eBPF Python profiles with off-CPU on: "wall" (cpu +
  // off-cpu nanoseconds of every stack).
  std::optional<int64_t> wall = Find(sums, "wall-time");
  if (!wall) wall = Find(sums, "wall");
  if (wall) fields.Add("prof_python_wall_time", *wall);
  if (auto v = Find(sums, "heap-space")) fields.Add("prof_python_lifetime_heap_bytes", *v);
  return fields.Take();
}

// dd-trace-go's metrics.json name → profiling_metrics field (docs/datakit-protocol.md §3.3).
constexpr std::array<std::pair<std::string_view, std::string_view>, 15> kGoMetricsJson = {{
    {"go_cpu_cores", "prof_go_cpu_cores"},
    {"go_cpu_cores_gc_overhead", "prof_go_cpu_cores_gc_overhead"},
    {"go_alloc_bytes_per_sec", "prof_go_alloc_bytes_per_sec"},
    {"go_alloc_bytes_total", "prof_go_alloc_bytes_total"},
    {"go_frees_per_sec", "prof_go_frees_per_sec"},
    {"go_heap_growth_bytes_per_sec", "prof_go_heap_growth_bytes_per_sec"},
    {"go_allocs_per_sec", "prof_go_allocs_per_sec"},
    {"go_blocked_time", "prof_go_blocked_time"},
    {"go_mutex_delay_time", "prof_go_mutex_delay_time"},
    {"go_gcs_per_sec", "prof_go_gcs_per_sec"},
    {"go_max_gc_pause_time", "prof_go_max_gc_pause_time"},
    {"go_gc_pause_time", "prof_go_gc_pause_time"},
    {"go_num_goroutine", "prof_go_num_goroutine"},
    {"go_lifetime_heap_bytes", "prof_go_lifetime_heap_bytes"},
    {"go_lifetime_heap_objects", "prof_go_lifetime_heap_objects"},
}};

Status AddGoMetricsJson(const ProfileFile& file, Duration d, size_t max_part_bytes,
                        FieldList& fields) {
  PROFKIT_ASSIGN_OR_RETURN(std::string text, Decompress(file.data, max_part_bytes));
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return Status::InvalidInput("metrics.json: not a JSON array");
  std::optional<double> alloc_per_sec, gc_pause;
  for (const nlohmann::json& pair : json) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_number()) {
      return Status::InvalidInput("metrics.json: an entry is not a [name, number] pair");
    }
    const std::string& name = pair[0].get_ref<const std::string&>();
    for (const auto& [json_name, field] : kGoMetricsJson) {
      if (json_name != name || fields.Has(field)) continue;
      // As DataKit: an integer literal stays an integer field, anything else is a float.
      if (pair[1].is_number_integer() &&
          (pair[1].is_number_unsigned() ? pair[1].get<uint64_t>() <= INT64_MAX : true)) {
        fields.Add(std::string(field), pair[1].get<int64_t>());
      } else {
        fields.Add(std::string(field), pair[1].get<double>());
      }
    }
    if (name == "go_alloc_bytes_per_sec") alloc_per_sec = pair[1].get<double>();
    if (name == "go_gc_pause_time") gc_pause = pair[1].get<double>();
  }
  if (alloc_per_sec && *alloc_per_sec * d.seconds > 0 && !fields.Has("prof_go_alloc_bytes_total")) {
    fields.Add("prof_go_alloc_bytes_total", *alloc_per_sec * d.seconds);
  }
  // Dimensionally odd (go_gc_pause_time is already a fraction) but DataKit's formula, which
  // dashboards are built on (docs/datakit-protocol.md §5 row 23); it replaces a
  // go_cpu_cores_gc_overhead, as there.
  if (gc_pause && *gc_pause / d.seconds > 0) {
    fields.Set("prof_go_cpu_cores_gc_overhead", *gc_pause / d.seconds);
  }
  return Status::Ok();
}

// The part whose name contains `key`, preferring "<key>.pprof" or "<key>" exactly, then
// "delta-<key>.pprof", then upload order (goroutines.pprof over goroutineswait.pprof;
// docs/datakit-protocol.md §5 row 14).
const ProfileFile* PickGoFile(const std::vector<ProfileFile>& files, std::string_view key) {
  const std::string exact[] = {std::string(key) + ".pprof", std::string(key),
                               "delta-" + std::string(key) + ".pprof"};
  for (const std::string& wanted : exact) {
    for (const ProfileFile& file : files) {
      if (file.name == wanted) return &file;
    }
  }
  for (const ProfileFile& file : files) {
    if (file.name.find(key) != std::string_view::npos) return &file;
  }
  return nullptr;
}

Result<std::vector<Field>> GoFields(const ProfileInput& input, Duration d, size_t max_part_bytes) {
  FieldList fields;
  for (std::string_view name : {"metrics", "metrics.json"}) {
    const auto it = std::find_if(input.files.begin(), input.files.end(),
                                 [&](const ProfileFile& f) { return f.name == name; });
    if (it == input.files.end()) continue;
    PROFKIT_RETURN_IF_ERROR(AddGoMetricsJson(*it, d, max_part_bytes, fields));
    break;
  }
  // Each value from the pprof files only when metrics.json did not give it.
  const auto add_from = [&](std::string_view key, auto&& add) -> Status {
    const ProfileFile* file = PickGoFile(input.files, key);
    if (file == nullptr) return Status::Ok();
    PROFKIT_ASSIGN_OR_RETURN(SampleSums sums, Sum(*file, max_part_bytes));
    add(sums);
    return Status::Ok();
  };
  const auto add_sum = [&](const SampleSums& sums, std::string_view type, std::string field) {
    if (fields.Has(field)) return;
    if (auto v = Find(sums, type)) fields.Add(std::move(field), *v);
  };
  PROFKIT_RETURN_IF_ERROR(add_from("cpu", [&](const SampleSums& sums) {
    if (fields.Has("prof_go_cpu_cores")) return;
    if (auto v = Find(sums, "cpu")) {
      fields.Add("prof_go_cpu_cores", static_cast<double>(*v) / static_cast<double>(d.ns));
    }
  }));
  PROFKIT_RETURN_IF_ERROR(add_from(
      "block", [&](const SampleSums& sums) { add_sum(sums, "delay", "prof_go_blocked_time"); }));
  PROFKIT_RETURN_IF_ERROR(add_from("heap", [&](const SampleSums& sums) {
    add_sum(sums, "inuse_objects", "prof_go_lifetime_heap_objects");
    add_sum(sums, "inuse_space", "prof_go_lifetime_heap_bytes");
  }));
  PROFKIT_RETURN_IF_ERROR(add_from("mutex", [&](const SampleSums& sums) {
    add_sum(sums, "delay", "prof_go_mutex_delay_time");
  }));
  PROFKIT_RETURN_IF_ERROR(add_from("goroutines", [&](const SampleSums& sums) {
    // Go names the type "goroutine"; DataKit looks for "goroutines" and reads 0
    // (docs/datakit-protocol.md §5 row 2).
    add_sum(sums, "goroutine", "prof_go_num_goroutine");
    add_sum(sums, "goroutines", "prof_go_num_goroutine");
  }));
  return fields.Take();
}

// dd-trace-js sends wall.pprof (sample/count, wall/nanoseconds and, with CPU profiling on,
// cpu/nanoseconds) and space.pprof (inuse_objects/count, inuse_space/bytes).
Result<std::vector<Field>> NodeFields(const ProfileInput& input, Duration d,
                                      size_t max_part_bytes) {
  FieldList fields;
  if (const ProfileFile* wall = PickGoFile(input.files, "wall")) {
    PROFKIT_ASSIGN_OR_RETURN(SampleSums sums, Sum(*wall, max_part_bytes));
    if (auto v = Find(sums, "cpu")) {
      fields.Add("prof_nodejs_cpu_cores", static_cast<double>(*v) / static_cast<double>(d.ns));
    }
    if (auto v = Find(sums, "wall")) fields.Add("prof_nodejs_wall_time", *v);
  }
  if (const ProfileFile* space = PickGoFile(input.files, "space")) {
    PROFKIT_ASSIGN_OR_RETURN(SampleSums sums, Sum(*space, max_part_bytes));
    if (auto v = Find(sums, "inuse_space")) fields.Add("prof_nodejs_lifetime_heap_bytes", *v);
    if (auto v = Find(sums, "inuse_objects")) fields.Add("prof_nodejs_lifetime_heap_objects", *v);
  }
  return fields.Take();
}

}  // namespace

bool HasMetrics(std::string_view language) {
  return language == "python" || language == "golang" || language == "nodejs";
}

Result<std::vector<Field>> ComputeFields(const ProfileInput& input, size_t max_part_bytes) {
  if (!HasMetrics(input.language)) return std::vector<Field>{};
  if (input.end_unix_nanos <= input.start_unix_nanos) {
    return Status::InvalidInputf("the profile's end ({} ns) is not after its start ({} ns)",
                                 input.end_unix_nanos, input.start_unix_nanos);
  }
  const int64_t ns = input.end_unix_nanos - input.start_unix_nanos;
  const Duration d{ns, static_cast<double>(ns) / 1e9};
  if (input.language == "python") return PythonFields(input, d, max_part_bytes);
  if (input.language == "golang") return GoFields(input, d, max_part_bytes);
  return NodeFields(input, d, max_part_bytes);
}

}  // namespace profkit::metrics
