#include "profkit/metrics/profile_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "profkit/common/compression.h"
#include "profkit/metrics/pprof_sums.h"
#include "test_pprof.h"

namespace profkit::metrics {
namespace {

using testing::BuildPprof;
using ::testing::HasSubstr;

using Value = std::variant<int64_t, double>;

constexpr int64_t kStart = 1'700'000'000'000'000'000;

std::map<std::string, Value> ByKey(const std::vector<Field>& fields) {
  std::map<std::string, Value> out;
  for (const Field& field : fields)
    EXPECT_TRUE(out.emplace(field.key, field.value).second) << field.key;
  return out;
}

double AsDouble(const Value& value) { return std::get<double>(value); }
int64_t AsInt(const Value& value) { return std::get<int64_t>(value); }

// The sums of DataKit's testdata python.pprof (docs/datakit-protocol.md §3.2), as dd-trace-py names
// and units its sample types.
std::string DdTracePyProfile() {
  return BuildPprof({{{"cpu-samples", "count"}, 799},
                     {{"cpu-time", "nanoseconds"}, 7'990'188'678},
                     {{"wall-time", "nanoseconds"}, 132'095'573'542},
                     {{"exception-samples", "count"}, 12},
                     {{"lock-acquire", "count"}, 64},
                     {{"lock-acquire-wait", "nanoseconds"}, 5'000},
                     {{"lock-release", "count"}, 64},
                     {{"lock-release-hold", "nanoseconds"}, 7'000},
                     {{"alloc-samples", "count"}, 30'720},
                     {{"alloc-space", "bytes"}, 151'819'986},
                     {{"heap-space", "bytes"}, 24'367'668}});
}

TEST(PprofSums, ConvertsUnits) {
  EXPECT_EQ(UnitFactor("nanoseconds"), 1);
  EXPECT_EQ(UnitFactor("microseconds"), 1000);
  EXPECT_EQ(UnitFactor("MS"), 1'000'000);
  EXPECT_EQ(UnitFactor("seconds"), 1'000'000'000);
  EXPECT_EQ(UnitFactor("kilobytes"), 1024);
  EXPECT_EQ(UnitFactor("MiB"), 1 << 20);
  EXPECT_EQ(UnitFactor("count"), 1);
  const std::string pprof = BuildPprof({{{"wait", "milliseconds"}, 3}, {{"size", "kb"}, 2}});
  Result<SampleSums> sums = SumPprof(pprof, 1 << 20);
  ASSERT_TRUE(sums.ok()) << sums.status().message();
  EXPECT_EQ(sums->at("wait"), 3'000'000);
  EXPECT_EQ(sums->at("size"), 2048);
}

TEST(PprofSums, OverflowAndGarbageAreErrors) {
  const std::string big = BuildPprof({{{"t", "hours"}, int64_t{1} << 40}});
  EXPECT_THAT(SumPprof(big, 1 << 20).status().message(), HasSubstr("overflows"));
  EXPECT_FALSE(SumPprof("not a profile at all", 1 << 20).ok());
}

TEST(PprofSums, ReadsUnpackedValuesAndChecksTheStructure) {
  using std::string_literals::operator""s;
  // string_table ["", "c"]; sample_type {type 1, unit 1}; two samples with one unpacked value each.
  const std::string strings = "\x32\x00\x32\x01"
                              "c"s;
  const std::string type = "\x0a\x04\x08\x01\x10\x01"s;
  const std::string samples = "\x12\x02\x10\x05\x12\x02\x10\x07"s;
  Result<SampleSums> sums = SumPprof(samples + type + strings, 1 << 10);  // any field order
  ASSERT_TRUE(sums.ok()) << sums.status().message();
  EXPECT_EQ(sums->at("c"), 12);

  EXPECT_THAT(
      SumPprof(strings + type + samples + "\x12\x04\x10\x01\x10\x02"s, 1 << 10).status().message(),
      HasSubstr("malformed"));
  EXPECT_THAT(SumPprof(strings + "\x0a\x04\x08\x09\x10\x01"s, 1 << 10).status().message(),
              HasSubstr("out of range"));
  EXPECT_THAT(SumPprof(type + samples, 1 << 10).status().message(), HasSubstr("string_table[0]"));
  const std::string whole = strings + type + samples;
  // Cut inside a field, never between two (a prefix of whole fields is a valid message).
  const std::set<size_t> field_ends = {2, strings.size(), strings.size() + type.size(),
                                       strings.size() + type.size() + 4};
  for (size_t keep = 1; keep < whole.size(); ++keep) {
    if (field_ends.contains(keep)) continue;
    EXPECT_FALSE(SumPprof(whole.substr(0, keep), 1 << 10).ok()) << "keep " << keep;
  }
  EXPECT_THAT(SumPprof(whole, whole.size() - 1).status().message(), HasSubstr("limit"));
}

TEST(ProfileMetrics, PythonMatchesDataKitsFormulas) {
  // Every compression a tracer uses gives the same result.
  const std::string raw = DdTracePyProfile();
  for (const std::string& data : {raw, *GzipCompress(raw), testing::Zstd(raw), testing::Lz4(raw)}) {
    ProfileInput input{"python", kStart, kStart + 64'006'225'000, {{"auto", "auto.pprof", data}}};
    Result<std::vector<Field>> fields = ComputeFields(input);
    ASSERT_TRUE(fields.ok()) << fields.status().message();
    auto f = ByKey(*fields);
    EXPECT_EQ(f.size(), 11u);
    const double d_s = 64.006225;
    EXPECT_DOUBLE_EQ(AsDouble(f["prof_python_cpu_cores"]), 7'990'188'678.0 / 64'006'225'000.0);
    EXPECT_EQ(AsInt(f["prof_python_alloc_bytes_total"]), 151'819'986);
    EXPECT_DOUBLE_EQ(AsDouble(f["prof_python_alloc_bytes_per_sec"]), 151'819'986 / d_s);
    EXPECT_DOUBLE_EQ(AsDouble(f["prof_python_allocs_per_sec"]), 30'720 / d_s);
    EXPECT_DOUBLE_EQ(AsDouble(f["prof_python_lock_acquisitions_per_sec"]), 64 / d_s);
    EXPECT_EQ(AsInt(f["prof_python_lock_acquisition_time"]), 5'000);
    EXPECT_EQ(AsInt(f["prof_python_lock_hold_time"]), 7'000);
    EXPECT_EQ(AsInt(f["prof_python_exceptions_total"]), 12);
    EXPECT_DOUBLE_EQ(AsDouble(f["prof_python_exceptions_per_sec"]), 12 / d_s);
    EXPECT_EQ(AsInt(f["prof_python_wall_time"]), 132'095'573'542);
    EXPECT_EQ(AsInt(f["prof_python_lifetime_heap_bytes"]), 24'367'668);
  }
}

TEST(ProfileMetrics, PythonPicksAutoOverOtherPprofParts) {
  const std::string auto_pprof = BuildPprof({{{"wall-time", "nanoseconds"}, 10}});
  const std::string other = BuildPprof({{{"wall-time", "nanoseconds"}, 99}});
  ProfileInput input{"python",
                     kStart,
                     kStart + 1'000'000'000,
                     {{"other.pprof", "other.pprof", other},
                      {"auto", "auto.pprof", auto_pprof},
                      {"code-provenance", "code-provenance.json", "{}"}}};
  auto f = ByKey(*ComputeFields(input));
  EXPECT_EQ(AsInt(f["prof_python_wall_time"]), 10);
}

TEST(ProfileMetrics, EbpfPythonCpuCoresFromOnCpuNanoseconds) {
  // profkit's eBPF Python profiles: samples/count and cpu/nanoseconds, over a 10 s interval.
  const std::string pprof =
      BuildPprof({{{"samples", "count"}, 1500}, {{"cpu", "nanoseconds"}, 15'000'000'000}});
  const std::string gzip = *GzipCompress(pprof);  // ProfileFile only views its data
  ProfileInput input{"python", kStart, kStart + 10'000'000'000, {{"cpu.pprof", "cpu.pprof", gzip}}};
  auto f = ByKey(*ComputeFields(input));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_DOUBLE_EQ(AsDouble(f["prof_python_cpu_cores"]), 1.5);
}

TEST(ProfileMetrics, EbpfPythonWallTimeFromOffCpuProfiles) {
  // With [ebpf] off_cpu: wall/nanoseconds = cpu + off-cpu of every stack.
  const std::string pprof = BuildPprof({{{"samples", "count"}, 1500},
                                        {{"cpu", "nanoseconds"}, 15'000'000'000},
                                        {{"off-cpu", "nanoseconds"}, 25'000'000'000},
                                        {{"off-cpu-events", "count"}, 900},
                                        {{"wall", "nanoseconds"}, 40'000'000'000}});
  ProfileInput input{
      "python", kStart, kStart + 10'000'000'000, {{"cpu.pprof", "cpu.pprof", pprof}}};
  auto f = ByKey(*ComputeFields(input));
  ASSERT_EQ(f.size(), 2u);
  EXPECT_DOUBLE_EQ(AsDouble(f["prof_python_cpu_cores"]), 1.5);
  EXPECT_EQ(AsInt(f["prof_python_wall_time"]), 40'000'000'000);
}

TEST(ProfileMetrics, GoFromPprofFilesReadsTheGoroutineSampleType) {
  const int64_t d_ns = 60'000'000'000;
  const std::string cpu =
      BuildPprof({{{"samples", "count"}, 600}, {{"cpu", "nanoseconds"}, 6'000'000'000}});
  const std::string heap = BuildPprof({{{"alloc_objects", "count"}, 1},
                                       {{"alloc_space", "bytes"}, 2},
                                       {{"inuse_objects", "count"}, 300},
                                       {{"inuse_space", "bytes"}, 4096}});
  const std::string block =
      BuildPprof({{{"contentions", "count"}, 5}, {{"delay", "nanoseconds"}, 700}});
  const std::string mutex =
      BuildPprof({{{"contentions", "count"}, 5}, {{"delay", "microseconds"}, 3}});
  // Go's goroutine profile type is "goroutine"; DataKit reads "goroutines" and reports 0.
  const std::string goroutines = BuildPprof({{{"goroutine", "count"}, 42}});
  const std::string wait = BuildPprof({{{"goroutine", "count"}, 7}});
  const std::string cpu_gzip = *GzipCompress(cpu), heap_zstd = testing::Zstd(heap),
                    mutex_lz4 = testing::Lz4(mutex);
  ProfileInput input{"golang",
                     kStart,
                     kStart + d_ns,
                     {{"goroutineswait.pprof", "goroutineswait.pprof", wait},
                      {"cpu.pprof", "cpu.pprof", cpu_gzip},
                      {"delta-heap.pprof", "delta-heap.pprof", heap_zstd},
                      {"delta-block.pprof", "delta-block.pprof", block},
                      {"delta-mutex.pprof", "delta-mutex.pprof", mutex_lz4},
                      {"goroutines.pprof", "goroutines.pprof", goroutines}}};
  Result<std::vector<Field>> fields = ComputeFields(input);
  ASSERT_TRUE(fields.ok()) << fields.status().message();
  auto f = ByKey(*fields);
  EXPECT_EQ(f.size(), 6u);
  EXPECT_DOUBLE_EQ(AsDouble(f["prof_go_cpu_cores"]), 0.1);
  EXPECT_EQ(AsInt(f["prof_go_lifetime_heap_objects"]), 300);
  EXPECT_EQ(AsInt(f["prof_go_lifetime_heap_bytes"]), 4096);
  EXPECT_EQ(AsInt(f["prof_go_blocked_time"]), 700);
  EXPECT_EQ(AsInt(f["prof_go_mutex_delay_time"]), 3000);
  EXPECT_EQ(AsInt(f["prof_go_num_goroutine"]), 42);
}

TEST(ProfileMetrics, GoMetricsJsonWinsAndDerivesAsDataKit) {
  const std::string json =
      R"([["go_alloc_bytes_per_sec",232769.73],["go_allocs_per_sec",388],["go_gc_pause_time",0.0000096],)"
      R"(["go_num_goroutine",9],["go_cpu_cores",0.5],["go_cpu_cores_gc_overhead",0.3],["unknown",1]])";
  const std::string cpu = BuildPprof({{{"cpu", "nanoseconds"}, 1'000'000'000}});
  const std::string goroutines = BuildPprof({{{"goroutine", "count"}, 42}});
  ProfileInput input{"golang",
                     kStart,
                     kStart + 10'000'000'000,
                     {{"metrics.json", "metrics.json", json},
                      {"cpu.pprof", "cpu.pprof", cpu},
                      {"goroutines.pprof", "goroutines.pprof", goroutines}}};
  Result<std::vector<Field>> fields = ComputeFields(input);
  ASSERT_TRUE(fields.ok()) << fields.status().message();
  auto f = ByKey(*fields);
  EXPECT_DOUBLE_EQ(AsDouble(f["prof_go_alloc_bytes_per_sec"]), 232769.73);
  EXPECT_EQ(AsInt(f["prof_go_allocs_per_sec"]), 388);
  EXPECT_EQ(AsInt(f["prof_go_num_goroutine"]), 9);
  EXPECT_DOUBLE_EQ(AsDouble(f["prof_go_cpu_cores"]), 0.5);
  EXPECT_DOUBLE_EQ(AsDouble(f["prof_go_alloc_bytes_total"]), 232769.73 * 10);
  // go_gc_pause_time / D_s, replacing the reported overhead (docs/datakit-protocol.md §5 row 23).
  EXPECT_DOUBLE_EQ(AsDouble(f["prof_go_cpu_cores_gc_overhead"]), 0.0000096 / 10);
  EXPECT_FALSE(f.contains("unknown"));

  input.files[0].data = R"([["go_cpu_cores"]])";
  EXPECT_THAT(ComputeFields(input).status().message(), HasSubstr("metrics.json"));
}

TEST(ProfileMetrics, NodejsFromWallAndSpace) {
  // The sums of the dd-trace-js 5.132 fixture upload.
  const std::string wall = BuildPprof({{{"sample", "count"}, 993},
                                       {{"wall", "nanoseconds"}, 10'209'033'000},
                                       {{"cpu", "nanoseconds"}, 10'159'190'728}});
  const std::string space =
      BuildPprof({{{"inuse_objects", "count"}, 25'937}, {{"inuse_space", "bytes"}, 11'651'900}});
  const std::string space_gzip = *GzipCompress(space), wall_gzip = *GzipCompress(wall);
  ProfileInput input{
      "nodejs",
      kStart,
      kStart + 10'224'000'000,
      {{"space.pprof", "space.pprof", space_gzip}, {"wall.pprof", "wall.pprof", wall_gzip}}};
  auto f = ByKey(*ComputeFields(input));
  EXPECT_EQ(f.size(), 4u);
  EXPECT_DOUBLE_EQ(AsDouble(f["prof_nodejs_cpu_cores"]), 10'159'190'728.0 / 10'224'000'000.0);
  EXPECT_EQ(AsInt(f["prof_nodejs_wall_time"]), 10'209'033'000);
  EXPECT_EQ(AsInt(f["prof_nodejs_lifetime_heap_bytes"]), 11'651'900);
  EXPECT_EQ(AsInt(f["prof_nodejs_lifetime_heap_objects"]), 25'937);
}

TEST(ProfileMetrics, OtherLanguagesAndEmptyUploadsHaveNone) {
  const std::string pprof = BuildPprof({{{"cpu", "nanoseconds"}, 1}});
  for (const char* language : {"java", "cpp", "dotnet", "unknown"}) {
    ProfileInput input{language, kStart, kStart + 1, {{"cpu.pprof", "cpu.pprof", pprof}}};
    EXPECT_TRUE(ComputeFields(input)->empty()) << language;
  }
  EXPECT_TRUE(ComputeFields(ProfileInput{"python", kStart, kStart + 1, {}})->empty());
}

TEST(ProfileMetrics, BadTimesAndBombsAreErrors) {
  const std::string pprof = BuildPprof({{{"cpu", "nanoseconds"}, 1}});
  EXPECT_FALSE(
      ComputeFields(ProfileInput{"golang", kStart, kStart, {{"cpu.pprof", "", pprof}}}).ok());
  const std::string bomb = testing::Zstd(std::string(8 << 20, '\0'));
  Result<std::vector<Field>> fields =
      ComputeFields(ProfileInput{"golang", kStart, kStart + 1, {{"cpu.pprof", "", bomb}}}, 1 << 20);
  ASSERT_FALSE(fields.ok());
  EXPECT_THAT(fields.status().message(), HasSubstr("cpu.pprof"));
  EXPECT_THAT(fields.status().message(), HasSubstr("exceeds"));
}

}  // namespace
}  // namespace profkit::metrics
