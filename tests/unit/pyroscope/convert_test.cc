#include "profkit/pyroscope/convert.h"

#include <gtest/gtest.h>

#include <map>

#include "profkit/profile/pprof_builder.h"

namespace profkit::pyroscope {
namespace {

namespace pb = perftools::profiles;

pb::Profile Parse(const Result<FoldedProfile>& folded) {
  EXPECT_TRUE(folded.ok()) << folded.status().message();
  Result<pb::Profile> profile = profile::ParsePprof(folded.ok() ? folded->gzip : "", 1 << 20);
  if (folded.ok() && profile.ok()) {
    EXPECT_EQ(folded->sample_types, SampleTypes(*profile));
  }
  EXPECT_TRUE(profile.ok()) << profile.status().message();
  return profile.ok() ? *profile : pb::Profile();
}

// "root;...;leaf" → summed values, from the pprof.
std::map<std::string, std::vector<int64_t>> Stacks(const pb::Profile& p) {
  std::map<uint64_t, std::string> names;
  for (const pb::Function& f : p.function()) names[f.id()] = p.string_table(f.name());
  std::map<uint64_t, std::string> location_names;
  for (const pb::Location& l : p.location())
    location_names[l.id()] = names[l.line(0).function_id()];
  std::map<std::string, std::vector<int64_t>> out;
  for (const pb::Sample& s : p.sample()) {
    std::string stack;
    for (int i = s.location_id_size() - 1; i >= 0; --i) {
      stack += (stack.empty() ? "" : ";") + location_names[s.location_id(i)];
    }
    std::vector<int64_t>& values = out[stack];
    values.resize(s.value_size());
    for (int i = 0; i < s.value_size(); ++i) values[i] += s.value(i);
  }
  return out;
}

std::vector<std::string> Types(const pb::Profile& p) {
  std::vector<std::string> out;
  for (const pb::ValueType& t : p.sample_type()) {
    out.push_back(p.string_table(t.type()) + "/" + p.string_table(t.unit()));
  }
  return out;
}

TEST(FoldedToPprofTest, CpuSamplesScaledByThePeriod) {
  const pb::Profile p = Parse(FoldedToPprof(
      "main;work;hot 30\nmain;idle 5\r\n\nmain;work;hot 2\nmain;zero 0\n",
      {.sample_rate = 100, .start_unix_nanos = 1'000'000'000, .end_unix_nanos = 11'000'000'000}));
  EXPECT_EQ(Types(p), (std::vector<std::string>{"samples/count", "cpu/nanoseconds"}));
  EXPECT_EQ(p.period(), 10'000'000);
  EXPECT_EQ(p.string_table(p.period_type().type()), "cpu");
  EXPECT_EQ(p.time_nanos(), 1'000'000'000);
  EXPECT_EQ(p.duration_nanos(), 10'000'000'000);
  const auto stacks = Stacks(p);
  ASSERT_EQ(stacks.size(), 2u);
  EXPECT_EQ(stacks.at("main;work;hot"), (std::vector<int64_t>{32, 320'000'000}));
  EXPECT_EQ(stacks.at("main;idle"), (std::vector<int64_t>{5, 50'000'000}));
}

TEST(FoldedToPprofTest, FramesWithSpacesKeepThem) {
  const pb::Profile p = Parse(FoldedToPprof("run (app.py:3);calc (app.py:10) 7\n", {}));
  EXPECT_EQ(Stacks(p).at("run (app.py:3);calc (app.py:10)")[0], 7);
}

TEST(FoldedToPprofTest, WallMetric) {
  const pb::Profile p = Parse(FoldedToPprof("a;b 1\n", {.metric = "wall", .sample_rate = 1000}));
  EXPECT_EQ(Types(p), (std::vector<std::string>{"samples/count", "wall/nanoseconds"}));
  EXPECT_EQ(p.period(), 1'000'000);
}

TEST(FoldedToPprofTest, UnitsChooseTheSampleType) {
  EXPECT_EQ(Types(Parse(FoldedToPprof("a 1\n", {.metric = "inuse_objects", .units = "objects"}))),
            std::vector<std::string>{"inuse_objects/count"});
  EXPECT_EQ(Types(Parse(FoldedToPprof("a 1\n", {.units = "objects"}))),
            std::vector<std::string>{"objects/count"});
  EXPECT_EQ(Types(Parse(FoldedToPprof("a 1\n", {.metric = "alloc_space", .units = "bytes"}))),
            std::vector<std::string>{"alloc_space/bytes"});
  EXPECT_EQ(Types(Parse(FoldedToPprof("a 1\n", {.units = "goroutines"}))),
            std::vector<std::string>{"goroutine/count"});
  EXPECT_EQ(Types(Parse(FoldedToPprof("a 1\n", {.units = "lock_nanoseconds"}))),
            std::vector<std::string>{"delay/nanoseconds"});
  EXPECT_EQ(Types(Parse(FoldedToPprof("a 1\n", {.units = "widgets"}))),
            std::vector<std::string>{"widgets/count"});
}

TEST(FoldedToPprofTest, LinesCountsEachLineOnce) {
  const pb::Profile p = Parse(FoldedToPprof("a;b\na;b\na;c d\n", {.lines = true}));
  const auto stacks = Stacks(p);
  EXPECT_EQ(stacks.at("a;b")[0], 2);
  EXPECT_EQ(stacks.at("a;c d")[0], 1);
}

// A count that is not UTF-8 aborted the agent inside fmt's "{:?}" (tests/fuzz/pyroscope_folded,
// corpus file fmt-invalid-utf8-count); it is an error quoting the bytes.
TEST(FoldedToPprofTest, CountOfInvalidUtf8IsAnError) {
  EXPECT_EQ(FoldedToPprof("main;work rk;\xa4om;w\xf6\xf6\n", {}).status().message(),
            "line 1: the count \"rk;\\xa4om;w\\xf6\\xf6\" is not an integer in 0..1000000000");
}

TEST(FoldedToPprofTest, ErrorsNameTheLine) {
  EXPECT_EQ(FoldedToPprof("a 1\nnocount\n", {}).status().message(),
            "line 2: no count after the stack (\"a;b;c 12\")");
  EXPECT_NE(FoldedToPprof("a -1\n", {}).status().message().find("line 1: the count"),
            std::string::npos);
  EXPECT_NE(FoldedToPprof("a 1x\n", {}).status().message().find("line 1"), std::string::npos);
  EXPECT_NE(FoldedToPprof("a 1000000001\n", {}).status().message().find("line 1"),
            std::string::npos);
  // The largest count at the lowest rate still fits.
  EXPECT_TRUE(FoldedToPprof("a 1000000000\n", {.sample_rate = 1}).ok());
  EXPECT_NE(FoldedToPprof(";; 3\n", {}).status().message().find("empty"), std::string::npos);
  std::string deep;
  for (size_t i = 0; i <= kMaxFoldedFrames; ++i) deep += "f;";
  EXPECT_NE(FoldedToPprof(deep + "g 1\n", {}).status().message().find("more than"),
            std::string::npos);
  EXPECT_EQ(FoldedToPprof(";; 3\n", {}).status().code(), StatusCode::kInvalidInput);
}

TEST(LanguageForSpyTest, KnownSpiesAndFallbacks) {
  EXPECT_EQ(LanguageForSpy("gospy"), "golang");
  EXPECT_EQ(LanguageForSpy("pyspy"), "python");
  EXPECT_EQ(LanguageForSpy("rbspy"), "ruby");
  EXPECT_EQ(LanguageForSpy("nodespy"), "nodejs");
  EXPECT_EQ(LanguageForSpy("dotnetspy"), "dotnet");
  EXPECT_EQ(LanguageForSpy("ebpfspy"), "cpp");
  EXPECT_EQ(LanguageForSpy("phpspy"), "php");
  EXPECT_EQ(LanguageForSpy("javaspy"), "java");
  EXPECT_EQ(LanguageForSpy("pyroscope-rs"), "rust");
  EXPECT_EQ(LanguageForSpy("rustspy"), "rust");
  EXPECT_EQ(LanguageForSpy("javascript"), "nodejs");
  EXPECT_EQ(LanguageForSpy("unknown"), "unknown");
  EXPECT_EQ(LanguageForSpy("spy"), "unknown");
  EXPECT_EQ(LanguageForSpy(""), "unknown");
}

TEST(AttachmentNameTest, FromSampleTypesAndHints) {
  const auto name = [](const char* folded_units, std::string_view metric, std::string_view hint,
                       std::string_view spy) {
    const pb::Profile p = Parse(FoldedToPprof("a 1\n", {.metric = metric, .units = folded_units}));
    return AttachmentName(SampleTypes(p), hint, spy);
  };
  EXPECT_EQ(name("samples", "", "", "nodespy"), "cpu.pprof");
  EXPECT_EQ(name("samples", "wall", "", "nodespy"), "wall.pprof");
  EXPECT_EQ(name("bytes", "inuse_space", "", "nodespy"), "heap.pprof");
  EXPECT_EQ(name("bytes", "inuse_space", "", "gospy"), "delta-heap.pprof");
  EXPECT_EQ(name("lock_samples", "", "block_count", "gospy"), "delta-block.pprof");
  EXPECT_EQ(name("lock_samples", "", "mutex_count", "gospy"), "delta-mutex.pprof");
  EXPECT_EQ(name("goroutines", "", "", "gospy"), "goroutines.pprof");
  EXPECT_EQ(name("widgets", "", "", "x"), "profile.pprof");
}

}  // namespace
}  // namespace profkit::pyroscope
