// python::ReadBudget and BudgetedMemory ([ebpf] python_read_kb_per_second): reads past a second's
// budget fail without touching the process and are counted; the next second has a new budget.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "fake_memory.h"
#include "profkit/python/process_memory.h"

namespace profkit::python {
namespace {

using testing::FakeMemory;

TEST(ReadBudgetTest, RefusesPastTheSecondsBudgetThenRenews) {
  int64_t now = 5'000'000'000;
  ReadBudget budget(100, [&now] { return now; });
  EXPECT_TRUE(budget.Take(60));
  EXPECT_TRUE(budget.Take(40));
  EXPECT_FALSE(budget.Take(1));
  now += 999'999'999;
  EXPECT_FALSE(budget.Take(1)) << "still the same second";
  now += 1;
  EXPECT_TRUE(budget.Take(100));
  EXPECT_FALSE(budget.Take(1)) << "the new second's budget is spent too";
  EXPECT_EQ(budget.bytes_read(), 200u);
  EXPECT_EQ(budget.refusals(), 3u);
}

TEST(ReadBudgetTest, BudgetedMemoryReadsOnlyWhatTheBudgetGrants) {
  int64_t now = 0;
  ReadBudget budget(64, [&now] { return now; });
  auto fake = std::make_unique<FakeMemory>();
  fake->Map(0x1000, std::vector<uint8_t>(256, 0x41));
  const FakeMemory& memory = *fake;
  BudgetedMemory reader(std::move(fake), budget);

  std::vector<uint8_t> out(48);
  ASSERT_TRUE(reader.Read(0x1000, out).ok());
  EXPECT_EQ(out[0], 0x41);
  Status refused = reader.Read(0x1000, out);
  EXPECT_EQ(refused.code(), StatusCode::kTooLarge);
  EXPECT_NE(refused.message().find("python_read_kb_per_second"), std::string::npos)
      << refused.message();
  EXPECT_EQ(memory.reads(), 1u) << "a refused read never reaches the process";
  // A failing read of the process still spends the budget: junk pointers cost what they ask.
  now += 1'000'000'000;
  EXPECT_FALSE(reader.Read(0x9000, out).ok());
  EXPECT_EQ(budget.bytes_read(), 96u);
  EXPECT_EQ(budget.refusals(), 1u);
}

}  // namespace
}  // namespace profkit::python
