#include "profkit/pipeline/profile_assembly.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "profkit/common/file_util.h"
#include "profkit/process/proc_parsers.h"
#include "profkit/profile/collapsed_writer.h"
#include "profkit/profile/pprof_builder.h"
#include "testing/temp_dir.h"

extern "C" __attribute__((noinline)) int ProfkitAssemblyMarker(int x) { return x * 3 + 1; }

namespace profkit::pipeline {
namespace {

// Frames of this very test binary (a real ELF with symbols and DWARF) plus two fake kernel frames.
class ProfileAssemblyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_ + "/kallsyms") << "ffffffff81000000 T _stext\n"
                                         "ffffffff81001000 T do_syscall_64\n"
                                         "ffffffff81002000 T clear_user\n"
                                         "ffffffff81003000 T _etext\n";
    Result<std::string> maps_text = ReadFileBounded("/proc/self/maps", 1 << 24);
    ASSERT_TRUE(maps_text.ok());
    Result<std::vector<process::MemoryMapping>> maps = process::ParseProcMaps(*maps_text);
    ASSERT_TRUE(maps.ok());
    const auto marker = reinterpret_cast<uint64_t>(&ProfkitAssemblyMarker);
    for (const process::MemoryMapping& m : *maps) {
      if (marker >= m.start && marker < m.end) {
        Result<uint32_t> id = native_.AddModule({.dev = m.dev, .inode = m.inode}, m.path, {m.path});
        ASSERT_TRUE(id.ok()) << id.status().message();
        module_ = *id;
        marker_offset_ = marker - m.start + m.file_offset;
      }
    }
    ASSERT_NE(module_, 0u);
    Result<symbolize::KernelSymbolizer> kernel =
        symbolize::KernelSymbolizer::Load(dir_ + "/kallsyms");
    ASSERT_TRUE(kernel.ok()) << kernel.status().message();
    symbolizer_ = std::make_unique<FrameSymbolizer>(
        native_, std::make_unique<symbolize::KernelSymbolizer>(std::move(kernel).value()));
  }

  profile::Aggregator::ServiceStacks Stacks() {
    const profile::Frame clear_user{.kind = profile::FrameKind::kKernel,
                                    .address = 0xffffffff81002010};
    const profile::Frame syscall{.kind = profile::FrameKind::kKernel,
                                 .address = 0xffffffff81001020,
                                 .is_return_address = true};
    // A return address points after the call instruction, never at the function entry.
    const profile::Frame marker{
        .module_id = module_, .address = marker_offset_ + 4, .is_return_address = true};
    const profile::Frame unknown{
        .module_id = profile::kUnknownModule, .address = 0x1234, .is_return_address = true};
    profile::Aggregator::ServiceStacks stacks{.key = {.service = "svc"}};
    stacks.stacks.push_back({profile::StackSample{.pid = 7,
                                                  .tid = 8,
                                                  .thread_name = "worker",
                                                  .frames = {clear_user, syscall, marker, unknown}},
                             3});
    stacks.stacks.push_back(
        {profile::StackSample{
             .pid = 7, .tid = 7, .thread_name = "main", .frames = {marker, unknown}},
         2});
    stacks.total = 5;
    return stacks;
  }

  testing::TempDir temp_dir_;
  const std::string dir_ = temp_dir_.path();
  symbolize::NativeSymbolizer native_;
  std::unique_ptr<FrameSymbolizer> symbolizer_;
  uint32_t module_ = 0;
  uint64_t marker_offset_ = 0;
};

TEST_F(ProfileAssemblyTest, PprofCarriesSamplesLabelsMappingsAndLines) {
  const IntervalTiming timing{
      .start_unix_ns = 1'000'000'000, .end_unix_ns = 3'000'000'000, .sample_period_ns = 10'101'010};
  Result<std::string> bytes = BuildServicePprof(Stacks(), *symbolizer_, timing);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  Result<perftools::profiles::Profile> parsed = profile::ParsePprof(*bytes, 1 << 24);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  const perftools::profiles::Profile& p = *parsed;
  const auto str = [&](int64_t i) { return p.string_table(static_cast<int>(i)); };

  ASSERT_EQ(p.sample_type_size(), 2);
  EXPECT_EQ(str(p.sample_type(0).type()), "samples");
  EXPECT_EQ(str(p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(p.period(), 10'101'010);
  EXPECT_EQ(p.time_nanos(), 1'000'000'000);
  EXPECT_EQ(p.duration_nanos(), 2'000'000'000);
  ASSERT_EQ(p.sample_size(), 2);
  EXPECT_EQ(p.sample(0).value(0), 3);
  EXPECT_EQ(p.sample(0).value(1), 3 * 10'101'010);
  EXPECT_EQ(p.sample(0).location_id_size(), 4);
  EXPECT_EQ(p.location_size(), 4) << "the marker and unknown frames are shared by both samples";

  std::map<std::string, std::string> labels;
  for (const auto& label : p.sample(0).label()) {
    labels[str(label.key())] = label.str() ? str(label.str()) : std::to_string(label.num());
  }
  EXPECT_EQ(labels, (std::map<std::string, std::string>{
                        {"pid", "7"}, {"tid", "8"}, {"thread_name", "worker"}}));

  std::set<std::string> functions, mappings;
  for (const auto& f : p.function()) functions.insert(str(f.name()));
  for (const auto& m : p.mapping()) mappings.insert(str(m.filename()));
  EXPECT_TRUE(functions.contains("clear_user"));
  EXPECT_TRUE(functions.contains("do_syscall_64"));
  EXPECT_TRUE(functions.contains("ProfkitAssemblyMarker"));
  EXPECT_TRUE(functions.contains("[unknown]"));
  EXPECT_TRUE(mappings.contains("[kernel.kallsyms]"));
  EXPECT_TRUE(mappings.contains(native_.Module(module_)->path));
  for (const auto& f : p.function()) {
    if (str(f.name()) == "ProfkitAssemblyMarker") {
      EXPECT_NE(str(f.filename()).find("profile_assembly_test.cc"), std::string::npos);
    }
  }
}

TEST_F(ProfileAssemblyTest, CollapsedIsRootFirstWithKernelSuffix) {
  const std::string text = profile::CollapsedText(BuildStackProfile({Stacks()}, *symbolizer_));
  EXPECT_EQ(text, "[unknown];ProfkitAssemblyMarker 2\n"
                  "[unknown];ProfkitAssemblyMarker;do_syscall_64_[k];clear_user_[k] 3\n");
}

// go tool pprof titles a profile after mapping 1: it must be the program, even when the first
// sample's innermost frame is in the kernel.
TEST_F(ProfileAssemblyTest, MainExecutableIsTheFirstMapping) {
  const std::string path = native_.Module(module_)->path;
  Result<std::string> bytes =
      BuildServicePprof(Stacks(), *symbolizer_, IntervalTiming{.sample_period_ns = 1}, path);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  Result<perftools::profiles::Profile> p = profile::ParsePprof(*bytes, 1 << 24);
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_GE(p->mapping_size(), 2);
  EXPECT_EQ(p->mapping(0).id(), 1u);
  EXPECT_EQ(p->string_table(static_cast<int>(p->mapping(0).filename())), path);
  EXPECT_FALSE(p->string_table(static_cast<int>(p->mapping(0).build_id())).empty())
      << "the mapping of the sampled module itself, build id included";
  EXPECT_EQ(p->string_table(static_cast<int>(p->mapping(1).filename())), "[kernel.kallsyms]");
}

TEST_F(ProfileAssemblyTest, MainExecutableWithoutSampledFramesStillComesFirst) {
  Result<std::string> bytes = BuildServicePprof(
      Stacks(), *symbolizer_, IntervalTiming{.sample_period_ns = 1}, "/usr/bin/x");
  ASSERT_TRUE(bytes.ok());
  Result<perftools::profiles::Profile> p = profile::ParsePprof(*bytes, 1 << 24);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->string_table(static_cast<int>(p->mapping(0).filename())), "/usr/bin/x");
}

TEST_F(ProfileAssemblyTest, StackProfileHasKindsModulesFilesAndThreads) {
  const profile::StackProfile stacks = BuildStackProfile({Stacks()}, *symbolizer_);
  EXPECT_EQ(stacks.total(), 5);
  ASSERT_EQ(stacks.stacks().size(), 2u);
  const auto& deep = stacks.stacks()[0];
  ASSERT_EQ(deep.frames.size(), 4u);
  const profile::ViewFrame& leaf = stacks.frames()[deep.frames[3]];
  EXPECT_EQ(leaf.kind, profile::FrameKind::kKernel);
  EXPECT_EQ(leaf.function, "clear_user");
  EXPECT_EQ(leaf.module, "[kernel.kallsyms]");
  const profile::ViewFrame& marker = stacks.frames()[deep.frames[1]];
  EXPECT_EQ(marker.kind, profile::FrameKind::kNative);
  EXPECT_EQ(marker.function, "ProfkitAssemblyMarker");
  EXPECT_EQ(marker.module, native_.Module(module_)->path);
  EXPECT_NE(marker.file.find("profile_assembly_test.cc"), std::string::npos);
  EXPECT_GT(marker.line, 0);
  EXPECT_EQ(stacks.threads()[deep.thread], "worker (8)");
  EXPECT_EQ(stacks.threads()[stacks.stacks()[1].thread], "main (7)");
}

}  // namespace
}  // namespace profkit::pipeline
