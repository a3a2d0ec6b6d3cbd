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
                                 .is_return_address = true,
                                 .address = 0xffffffff81001020};
    // A return address points after the call instruction, never at the function entry.
    const profile::Frame marker{
        .is_return_address = true, .module_id = module_, .address = marker_offset_ + 4};
    const profile::Frame unknown{
        .is_return_address = true, .module_id = profile::kUnknownModule, .address = 0x1234};
    profile::Aggregator::ServiceStacks stacks{.key = {.service = "svc"}};
    stacks.stacks.push_back({profile::StackSample{.pid = 7,
                                                  .tid = 8,
                                                  .thread_name = "worker",
                                                  .frames = {clear_user, syscall, marker, unknown}},
                             {.samples = 3}});
    stacks.stacks.push_back(
        {profile::StackSample{
             .pid = 7, .tid = 7, .thread_name = "main", .frames = {marker, unknown}},
         {.samples = 2}});
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

// Stacks() plus waits: one stack that also ran (both kinds of values), one that only waited.
profile::Aggregator::ServiceStacks WithOffCpu(profile::Aggregator::ServiceStacks stacks) {
  stacks.stacks[1].second.off_cpu_ns = 7'000;
  stacks.stacks[1].second.off_cpu_events = 2;
  profile::StackSample waiting = stacks.stacks[0].first;
  waiting.tid = 9;
  stacks.stacks.push_back({waiting, {.off_cpu_ns = 500'000'000, .off_cpu_events = 10}});
  stacks.off_cpu_total_ns = 500'007'000;
  return stacks;
}

TEST_F(ProfileAssemblyTest, OffCpuPprofHasOffCpuEventsAndWallBesideCpu) {
  const IntervalTiming timing{.sample_period_ns = 1'000};
  Result<std::string> bytes = BuildServicePprof(WithOffCpu(Stacks()), *symbolizer_, timing, "",
                                                /*off_cpu=*/true);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  Result<perftools::profiles::Profile> parsed = profile::ParsePprof(*bytes, 1 << 24);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  const perftools::profiles::Profile& p = *parsed;
  std::vector<std::pair<std::string, std::string>> types;
  for (const auto& t : p.sample_type()) {
    types.emplace_back(p.string_table(static_cast<int>(t.type())),
                       p.string_table(static_cast<int>(t.unit())));
  }
  EXPECT_EQ(types, (std::vector<std::pair<std::string, std::string>>{{"samples", "count"},
                                                                     {"cpu", "nanoseconds"},
                                                                     {"off-cpu", "nanoseconds"},
                                                                     {"off-cpu-events", "count"},
                                                                     {"wall", "nanoseconds"}}));
  ASSERT_EQ(p.sample_size(), 3);
  const auto values = [&](int i) {
    return std::vector<int64_t>(p.sample(i).value().begin(), p.sample(i).value().end());
  };
  EXPECT_EQ(values(0), (std::vector<int64_t>{3, 3'000, 0, 0, 3'000})) << "CPU only";
  EXPECT_EQ(values(1), (std::vector<int64_t>{2, 2'000, 7'000, 2, 9'000})) << "wall = cpu + off";
  EXPECT_EQ(values(2), (std::vector<int64_t>{0, 0, 500'000'000, 10, 500'000'000})) << "waits";
}

TEST_F(ProfileAssemblyTest, ViewsWriteTheChosenValue) {
  const IntervalTiming timing{.sample_period_ns = 1'000};
  const auto collapsed = [&](StackValueType value) {
    return profile::CollapsedText(
        BuildStackProfile({WithOffCpu(Stacks())}, *symbolizer_, timing, value));
  };
  EXPECT_EQ(collapsed(StackValueType::kSamples),
            "[unknown];ProfkitAssemblyMarker 2\n"
            "[unknown];ProfkitAssemblyMarker;do_syscall_64_[k];clear_user_[k] 3\n");
  EXPECT_EQ(collapsed(StackValueType::kOffCpu),
            "[unknown];ProfkitAssemblyMarker 7000\n"
            "[unknown];ProfkitAssemblyMarker;do_syscall_64_[k];clear_user_[k] 500000000\n")
      << "stacks without waits are left out";
  EXPECT_EQ(collapsed(StackValueType::kWall),
            "[unknown];ProfkitAssemblyMarker 9000\n"
            "[unknown];ProfkitAssemblyMarker;do_syscall_64_[k];clear_user_[k] 500003000\n");
  const profile::StackProfile events = BuildStackProfile({WithOffCpu(Stacks())}, *symbolizer_,
                                                         timing, StackValueType::kOffCpuEvents);
  EXPECT_EQ(events.total(), 12);
  EXPECT_EQ(events.info.value_name, "off-cpu-events");
  EXPECT_EQ(events.info.value_unit, "count");
}

TEST(StackValueTypeTest, ParsesThePprofNamesOnly) {
  EXPECT_EQ(ParseStackValueType("samples"), StackValueType::kSamples);
  EXPECT_EQ(ParseStackValueType("cpu"), StackValueType::kCpu);
  EXPECT_EQ(ParseStackValueType("off-cpu"), StackValueType::kOffCpu);
  EXPECT_EQ(ParseStackValueType("off-cpu-events"), StackValueType::kOffCpuEvents);
  EXPECT_EQ(ParseStackValueType("wall"), StackValueType::kWall);
  EXPECT_EQ(ParseStackValueType("Wall"), std::nullopt);
  EXPECT_EQ(ParseStackValueType(""), std::nullopt);
  EXPECT_EQ(ParseStackValueType("off_cpu"), std::nullopt);
  EXPECT_EQ(ValueTypeOf(StackValueType::kWall).unit, "nanoseconds");
}

TEST(StackValueTypeTest, ValuesSaturateInsteadOfOverflowing) {
  const profile::StackValues huge{.samples = INT64_MAX / 2, .off_cpu_ns = INT64_MAX / 2 + 10};
  EXPECT_EQ(StackValueOf(huge, StackValueType::kCpu, 1'000), INT64_MAX);
  EXPECT_EQ(StackValueOf(huge, StackValueType::kWall, 1), INT64_MAX);
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
