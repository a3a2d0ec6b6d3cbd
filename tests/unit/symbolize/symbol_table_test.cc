// SymbolTable is internal to the module; its edge cases (zero-size and nested symbols, aliases)
// are hard to produce with a compiler, so they are tested directly.
#include "symbol_table.h"

#include <gtest/gtest.h>

namespace profkit::symbolize {
namespace {

SymbolTable Build(void (*add)(SymbolTable::Builder&)) {
  SymbolTable::Builder builder;
  add(builder);
  return std::move(builder).Build();
}

TEST(SymbolTableTest, SizedSymbolsContainTheirRangeOnly) {
  const SymbolTable table = Build([](SymbolTable::Builder& b) {
    b.Add(0x2000, 0x10, "second", true, true);
    b.Add(0x1000, 0x100, "first", true, true);
  });
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Find(0x1000), "first");
  EXPECT_EQ(table.Find(0x10ff), "first");
  EXPECT_EQ(table.Find(0x1100), std::nullopt);  // padding after a sized symbol
  EXPECT_EQ(table.Find(0x0fff), std::nullopt);
  EXPECT_EQ(table.Find(0x200f), "second");
  EXPECT_EQ(table.Find(0x2010), std::nullopt);
}

TEST(SymbolTableTest, ZeroSizeSymbolsReachTheNextSymbolOrTheirSectionEnd) {
  const SymbolTable table = Build([](SymbolTable::Builder& b) {
    b.Add(0x1000, 0x1000, "asm_entry", false, true);  // section ends at 0x2000
    b.Add(0x1800, 0x10, "sized", true, true);
    b.Add(0x1900, 0x700, "asm_tail", false, false);
  });
  EXPECT_EQ(table.Find(0x17ff), "asm_entry");
  EXPECT_EQ(table.Find(0x1810), std::nullopt);  // not asm_entry: it stops at "sized"
  EXPECT_EQ(table.Find(0x1fff), "asm_tail");
  EXPECT_EQ(table.Find(0x2000), std::nullopt);
}

TEST(SymbolTableTest, AliasesPreferSizedGlobalAndNestedSymbolsFindTheirContainer) {
  const SymbolTable table = Build([](SymbolTable::Builder& b) {
    b.Add(0x1000, 0x100, "local_alias", true, false);
    b.Add(0x1000, 0x100, "global_name", true, true);
    b.Add(0x1000, 0x100, "label", false, true);
    b.Add(0x1040, 0x8, "nested", true, false);
  });
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Find(0x1000), "global_name");
  EXPECT_EQ(table.Find(0x1044), "nested");
  EXPECT_EQ(table.Find(0x1050), "global_name");
  EXPECT_GT(table.MemoryBytes(), 0u);
}

TEST(SymbolTableTest, EmptyTableFindsNothing) {
  const SymbolTable table;
  EXPECT_EQ(table.Find(0x1000), std::nullopt);
}

}  // namespace
}  // namespace profkit::symbolize
