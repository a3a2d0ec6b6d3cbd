#include "profkit/record/target_filter.h"

#include <gtest/gtest.h>

#include <unordered_map>

namespace profkit::record {
namespace {

TEST(TargetFilterTest, TargetsAndTheirDescendantsMatch) {
  std::unordered_map<uint32_t, uint32_t> parents = {{10, 1}, {11, 10}, {12, 11}, {20, 1}};
  TargetFilter filter({10}, [&](uint32_t pid) { return parents.contains(pid) ? parents[pid] : 0; });
  EXPECT_TRUE(filter.Matches(10));
  EXPECT_TRUE(filter.Matches(12));
  EXPECT_FALSE(filter.Matches(20));
  EXPECT_FALSE(filter.Matches(1));
}

TEST(TargetFilterTest, UnknownParentIsAskedAgainLater) {
  std::unordered_map<uint32_t, uint32_t> parents;
  TargetFilter filter({10}, [&](uint32_t pid) { return parents.contains(pid) ? parents[pid] : 0; });
  EXPECT_FALSE(filter.Matches(30));
  parents[30] = 10;  // its fork event arrived
  EXPECT_TRUE(filter.Matches(30));
}

TEST(TargetFilterTest, AddedTargetCounts) {
  TargetFilter filter({}, [](uint32_t) { return 1u; });
  EXPECT_FALSE(filter.Matches(42));
  filter.AddTarget(42);
  EXPECT_TRUE(filter.Matches(42));
}

TEST(TargetFilterTest, ParentCycleTerminates) {
  TargetFilter filter({10}, [](uint32_t pid) { return pid == 5 ? 6u : 5u; });
  EXPECT_FALSE(filter.Matches(5));
}

}  // namespace
}  // namespace profkit::record
