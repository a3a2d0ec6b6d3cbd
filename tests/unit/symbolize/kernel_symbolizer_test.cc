#include "profkit/symbolize/kernel_symbolizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "testing/temp_dir.h"

namespace profkit::symbolize {
namespace {

class KernelSymbolizerTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& content) {
    const std::string path = dir_ + "/kallsyms";
    std::ofstream(path) << content;
    return path;
  }

  testing::TempDir temp_dir_;
  const std::string dir_ = temp_dir_.path();
};

constexpr char kKallsyms[] = "ffffffff81000000 T _stext\n"
                             "ffffffff81000000 T _text\n"
                             "ffffffff81000100 t helper\n"
                             "ffffffff81000200 T do_work\n"
                             "ffffffff81000300 D some_data\n"
                             "ffffffff81200000 T _etext\n"
                             "ffffffff83000000 T _sinittext\n"
                             "ffffffff83000000 T start_kernel\n"
                             "ffffffff83001000 T _einittext\n"
                             "ffffffffc0001000 t mod_fn\t[mymod]\n"
                             "ffffffffc0001100 T mod_last\t[mymod]\n"
                             "ffffffffc0100000 t other_fn\t[othermod]\n";

TEST_F(KernelSymbolizerTest, LooksUpKernelAndModuleText) {
  auto symbolizer = KernelSymbolizer::Load(Write(kKallsyms));
  ASSERT_TRUE(symbolizer.ok()) << symbolizer.status().message();
  EXPECT_EQ(symbolizer->symbol_count(), 9u);  // aliases at one address count once
  EXPECT_EQ(symbolizer->Symbolize(0xffffffff81000000), "_stext");
  EXPECT_EQ(symbolizer->Symbolize(0xffffffff81000150), "helper");
  EXPECT_EQ(symbolizer->Symbolize(0xffffffff81000200), "do_work");
  // Data symbols are ignored: the address belongs to the preceding function.
  EXPECT_EQ(symbolizer->Symbolize(0xffffffff81000310), "do_work");
  EXPECT_EQ(symbolizer->Symbolize(0xffffffff83000010), "start_kernel");
  EXPECT_EQ(symbolizer->Symbolize(0xffffffffc0001010), "mod_fn");
  EXPECT_EQ(symbolizer->Symbolize(0xffffffffc0001180), "mod_last");
  EXPECT_EQ(symbolizer->Symbolize(0xffffffffc0100004), "other_fn");
}

TEST_F(KernelSymbolizerTest, NothingOutsideText) {
  auto symbolizer = KernelSymbolizer::Load(Write(kKallsyms));
  ASSERT_TRUE(symbolizer.ok()) << symbolizer.status().message();
  EXPECT_EQ(symbolizer->Symbolize(0xffffffff80ffffff), std::nullopt);  // below _stext
  EXPECT_EQ(symbolizer->Symbolize(0xffffffff81200000), std::nullopt);  // at _etext
  EXPECT_EQ(symbolizer->Symbolize(0xffffffff82000000), std::nullopt);  // between text and init
  EXPECT_EQ(symbolizer->Symbolize(0xffffffff83001001), std::nullopt);  // past _einittext
  // Past the last symbol of a module, beyond any plausible function size.
  EXPECT_EQ(symbolizer->Symbolize(0xffffffffc0001100 + KernelSymbolizer::kMaxLastSymbolBytes),
            std::nullopt);
  EXPECT_EQ(symbolizer->Symbolize(0xffffffffc0100000 + KernelSymbolizer::kMaxLastSymbolBytes),
            std::nullopt);
}

TEST_F(KernelSymbolizerTest, HiddenAddressesAreAnError) {
  auto symbolizer = KernelSymbolizer::Load(Write("0000000000000000 T _stext\n"
                                                 "0000000000000000 t helper\n"
                                                 "0000000000000000 t mod_fn\t[mymod]\n"));
  ASSERT_FALSE(symbolizer.ok());
  EXPECT_NE(symbolizer.status().message().find("kernel symbol addresses are hidden"),
            std::string::npos)
      << symbolizer.status().message();
}

TEST_F(KernelSymbolizerTest, MalformedInputIsAnError) {
  auto bad_address = KernelSymbolizer::Load(Write("ffffffff8100zz00 T _stext\n"));
  ASSERT_FALSE(bad_address.ok());
  EXPECT_NE(bad_address.status().message().find(":1: malformed line"), std::string::npos)
      << bad_address.status().message();

  auto missing_name =
      KernelSymbolizer::Load(Write("ffffffff81000000 T _stext\nffffffff81000100 t\n"));
  ASSERT_FALSE(missing_name.ok());
  EXPECT_NE(missing_name.status().message().find(":2: malformed line"), std::string::npos);

  auto no_text = KernelSymbolizer::Load(Write("ffffffff81000300 D some_data\n"));
  ASSERT_FALSE(no_text.ok());
  EXPECT_NE(no_text.status().message().find("no text symbols"), std::string::npos);

  auto missing = KernelSymbolizer::Load(dir_ + "/absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("absent"), std::string::npos);
}

TEST(KernelSymbolizerRealTest, ProcKallsymsLoadsOrSaysWhy) {
  auto symbolizer = KernelSymbolizer::Load();
  if (symbolizer.ok()) {
    EXPECT_GT(symbolizer->symbol_count(), 1000u);
  } else {
    EXPECT_NE(symbolizer.status().message().find("hidden"), std::string::npos)
        << symbolizer.status().message();
  }
}

}  // namespace
}  // namespace profkit::symbolize
