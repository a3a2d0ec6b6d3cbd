#include "profkit/profile/collapsed_writer.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace profkit::profile {
namespace {

using Stack = std::vector<std::string>;

TEST(CollapsedWriterTest, MergesIdenticalStacksAndSortsLines) {
  CollapsedWriter writer;
  writer.Add(Stack{"main", "work", "leaf"}, 2);
  writer.Add(Stack{"main", "idle"}, 1);
  writer.Add(Stack{"main", "work", "leaf"}, 3);
  writer.Add(Stack{"_start", "main"}, 4);
  EXPECT_EQ(writer.Finish(), "_start;main 4\nmain;idle 1\nmain;work;leaf 5\n");
}

TEST(CollapsedWriterTest, EmptyWriterWritesNothing) { EXPECT_EQ(CollapsedWriter().Finish(), ""); }

TEST(CollapsedWriterTest, IgnoresEmptyStacksAndNonPositiveCounts) {
  CollapsedWriter writer;
  writer.Add(Stack{}, 3);
  writer.Add(Stack{"main"}, 0);
  writer.Add(Stack{"main"}, -2);
  writer.Add(Stack{"main"}, 1);
  EXPECT_EQ(writer.Finish(), "main 1\n");
}

TEST(CollapsedWriterTest, SanitizesSeparatorsInNames) {
  CollapsedWriter writer;
  writer.Add(Stack{"main", "a;b", "line\nbreak\r", "", "operator new(unsigned long)"}, 1);
  EXPECT_EQ(writer.Finish(), "main;a:b;line break ;[unknown];operator new(unsigned long) 1\n");
}

TEST(CollapsedWriterTest, SanitizedNamesMergeWithTheirReplacement) {
  CollapsedWriter writer;
  writer.Add(Stack{"a;b"}, 1);
  writer.Add(Stack{"a:b"}, 1);
  EXPECT_EQ(writer.Finish(), "a:b 2\n");
}

TEST(CollapsedWriterTest, CountsSaturate) {
  CollapsedWriter writer;
  writer.Add(Stack{"main"}, std::numeric_limits<int64_t>::max());
  writer.Add(Stack{"main"}, 5);
  EXPECT_EQ(writer.Finish(), "main " + std::to_string(std::numeric_limits<int64_t>::max()) + "\n");
}

}  // namespace
}  // namespace profkit::profile
