#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "profkit/sampling/cpu_list.h"

namespace profkit::sampling {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseCpuListTest, ParsesRangesAndSingles) {
  auto cpus = ParseCpuList("0-2,5,7-8\n");
  ASSERT_TRUE(cpus.ok()) << cpus.status().message();
  EXPECT_THAT(*cpus, ElementsAre(0, 1, 2, 5, 7, 8));
}

TEST(ParseCpuListTest, ParsesSingleCpu) {
  auto cpus = ParseCpuList("0\n");
  ASSERT_TRUE(cpus.ok()) << cpus.status().message();
  EXPECT_THAT(*cpus, ElementsAre(0));
}

TEST(ParseCpuListTest, SortsAndDeduplicatesOverlaps) {
  auto cpus = ParseCpuList("3,0-3,1");
  ASSERT_TRUE(cpus.ok()) << cpus.status().message();
  EXPECT_THAT(*cpus, ElementsAre(0, 1, 2, 3));
}

TEST(ParseCpuListTest, RejectsMalformedInput) {
  for (const char* text :
       {"", "\n", "a", "1-", "-1", "0,", ",0", "3-1", "0-1-2", "1 ,2", "0x1", "99999"}) {
    auto cpus = ParseCpuList(text);
    EXPECT_FALSE(cpus.ok()) << "accepted '" << text << "'";
  }
}

TEST(ParseCpuListTest, ErrorNamesTheElement) {
  auto cpus = ParseCpuList("0-1,4-x");
  ASSERT_FALSE(cpus.ok());
  EXPECT_THAT(cpus.status().message(), HasSubstr("'4-x'"));
}

TEST(ParseCpuListTest, AcceptsTheLargestCpu) {
  auto cpus = ParseCpuList("8191");
  ASSERT_TRUE(cpus.ok()) << cpus.status().message();
  EXPECT_THAT(*cpus, ElementsAre(kMaxCpuId));
}

}  // namespace
}  // namespace profkit::sampling

namespace profkit::sampling {
namespace {

TEST(RingBufferBytesForCpusTest, ScalesWithCpusWithinBounds) {
  EXPECT_EQ(RingBufferBytesForCpus(1), size_t{4} << 20);
  EXPECT_EQ(RingBufferBytesForCpus(2), size_t{4} << 20);
  EXPECT_EQ(RingBufferBytesForCpus(5), size_t{8} << 20);
  EXPECT_EQ(RingBufferBytesForCpus(64), size_t{64} << 20);
  EXPECT_EQ(RingBufferBytesForCpus(100000), size_t{64} << 20);
}

}  // namespace
}  // namespace profkit::sampling
