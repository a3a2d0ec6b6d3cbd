#include "profkit/pull/delta.h"

#include <gtest/gtest.h>

#include <map>

#include "profkit/profile/pprof_builder.h"
#include "pull_test_util.h"

namespace profkit::pull {

using config::GoProfileType;

namespace {

namespace pb = perftools::profiles;
using testing::BuildProfile;
using testing::TestSample;

const std::vector<std::string> kHeapTypes = {"alloc_objects", "alloc_space", "inuse_objects",
                                             "inuse_space"};

pb::Profile Parse(const std::string& bytes) {
  auto parsed = profile::ParsePprof(bytes, 1 << 20);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  return parsed.ok() ? std::move(*parsed) : pb::Profile();
}

// Stack "leaf<-...<-root" (plus label) → values.
std::map<std::string, std::vector<int64_t>> Samples(const pb::Profile& p) {
  std::map<uint64_t, std::string> names;
  for (const pb::Function& f : p.function()) names[f.id()] = p.string_table(f.name());
  std::map<uint64_t, std::string> locations;
  for (const pb::Location& l : p.location()) locations[l.id()] = names[l.line(0).function_id()];
  std::map<std::string, std::vector<int64_t>> out;
  for (const pb::Sample& s : p.sample()) {
    std::string key;
    for (const uint64_t id : s.location_id()) key += (key.empty() ? "" : "<-") + locations[id];
    for (const pb::Label& label : s.label()) {
      key += " " + p.string_table(label.key()) + "=" + p.string_table(label.str());
    }
    out[key] = {s.value().begin(), s.value().end()};
  }
  return out;
}

TEST(DeltaTest, CumulativeTypesBecomeDifferencesAndInuseStaysAbsolute) {
  const pb::Profile previous = Parse(BuildProfile(
      kHeapTypes,
      {{{"alloc", "main"}, {10, 1000, 5, 500}, ""}, {{"gone", "main"}, {3, 30, 0, 0}, ""}}, 100));
  // The same stack appears in a different location order (other ids) and once more duplicated.
  const pb::Profile current = Parse(BuildProfile(kHeapTypes,
                                                 {{{"new", "main"}, {4, 400, 4, 400}, ""},
                                                  {{"alloc", "main"}, {12, 1100, 2, 200}, ""},
                                                  {{"alloc", "main"}, {3, 100, 1, 100}, ""}},
                                                 250));
  DeltaStats stats;
  auto delta = ComputeDelta(previous, current, DeltaSampleTypes(GoProfileType::kHeap), &stats);
  ASSERT_TRUE(delta.ok()) << delta.status().message();
  const auto samples = Samples(*delta);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples.at("alloc<-main"), (std::vector<int64_t>{5, 200, 3, 300}));
  EXPECT_EQ(samples.at("new<-main"), (std::vector<int64_t>{4, 400, 4, 400}));
  EXPECT_EQ(delta->time_nanos(), 250);
  EXPECT_EQ(delta->duration_nanos(), 150);
  EXPECT_EQ(stats.clamped_samples, 0);
}

TEST(DeltaTest, UnchangedSamplesAreDroppedAndLabelsSeparateStacks) {
  const std::vector<std::string> types = {"contentions", "delay"};
  const pb::Profile previous =
      Parse(BuildProfile(types, {{{"lock"}, {2, 20}, "k=a"}, {{"lock"}, {1, 10}, "k=b"}}, 1));
  const pb::Profile current =
      Parse(BuildProfile(types, {{{"lock"}, {2, 20}, "k=a"}, {{"lock"}, {4, 50}, "k=b"}}, 2));
  DeltaStats stats;
  auto delta = ComputeDelta(previous, current, DeltaSampleTypes(GoProfileType::kMutex), &stats);
  ASSERT_TRUE(delta.ok());
  const auto samples = Samples(*delta);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples.at("lock k=b"), (std::vector<int64_t>{3, 40}));
}

TEST(DeltaTest, DecreasesAreClampedAndCounted) {
  const std::vector<std::string> types = {"contentions", "delay"};
  const pb::Profile previous = Parse(BuildProfile(types, {{{"lock"}, {9, 90}, ""}}, 1));
  const pb::Profile current = Parse(BuildProfile(types, {{{"lock"}, {2, 100}, ""}}, 2));
  DeltaStats stats;
  auto delta = ComputeDelta(previous, current, DeltaSampleTypes(GoProfileType::kBlock), &stats);
  ASSERT_TRUE(delta.ok());
  EXPECT_EQ(Samples(*delta).at("lock"), (std::vector<int64_t>{0, 10}));
  EXPECT_EQ(stats.clamped_samples, 1);
}

TEST(DeltaTest, ChangedSampleTypesAreAnError) {
  const pb::Profile previous = Parse(BuildProfile({"contentions", "delay"}, {}, 1));
  const pb::Profile current = Parse(BuildProfile({"contentions"}, {}, 2));
  DeltaStats stats;
  EXPECT_FALSE(ComputeDelta(previous, current, {"contentions"}, &stats).ok());
}

TEST(DeltaTest, SumSampleTypeCountsGoroutines) {
  const pb::Profile p = Parse(BuildProfile({"goroutine"}, {{{"a"}, {3}, ""}, {{"b"}, {4}, ""}}, 1));
  EXPECT_EQ(SumSampleType(p, "goroutine"), 7);
  EXPECT_EQ(SumSampleType(p, "goroutines"), std::nullopt);
}

TEST(DeltaTest, DeltaTypesPerProfile) {
  EXPECT_TRUE(DeltaSampleTypes(GoProfileType::kCpu).empty());
  EXPECT_TRUE(DeltaSampleTypes(GoProfileType::kGoroutine).empty());
  EXPECT_EQ(DeltaSampleTypes(GoProfileType::kAllocs),
            (std::vector<std::string>{"alloc_objects", "alloc_space"}));
}

}  // namespace
}  // namespace profkit::pull
