#include "profkit/profile/pprof_builder.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "profkit/common/compression.h"

namespace profkit::profile {
namespace {

namespace pb = perftools::profiles;

constexpr size_t kMaxBytes = 1 << 20;

ProfileHeader CpuHeader() {
  ProfileHeader header;
  header.sample_types = {{"samples", "count"}, {"cpu", "nanoseconds"}};
  header.period_type = {"cpu", "nanoseconds"};
  header.period = 10'101'010;
  header.time_nanos = 1'700'000'000'000'000'000;
  header.duration_nanos = 60'000'000'000;
  return header;
}

const std::string& Str(const pb::Profile& p, int64_t index) {
  return p.string_table(static_cast<int>(index));
}

const pb::Function& FunctionById(const pb::Profile& p, uint64_t id) {
  for (const pb::Function& f : p.function()) {
    if (f.id() == id) return f;
  }
  ADD_FAILURE() << "no function " << id;
  return p.function(0);
}

TEST(PprofBuilderTest, RoundTripKeepsEveryFieldAndDedups) {
  PprofBuilder builder(CpuHeader());

  PprofMapping libc{.memory_start = 0x7f0000000000,
                    .memory_limit = 0x7f0000200000,
                    .file_offset = 0x28000,
                    .filename = "/usr/lib/libc.so.6",
                    .build_id = "abcdef0123",
                    .has_functions = true,
                    .has_filenames = true,
                    .has_line_numbers = false};
  PprofMapping app{.memory_start = 0x400000,
                   .memory_limit = 0x500000,
                   .file_offset = 0,
                   .filename = "/opt/app",
                   .build_id = "",
                   .has_functions = true,
                   .has_filenames = true,
                   .has_line_numbers = true};
  const uint64_t libc_id = builder.AddMapping(libc);
  const uint64_t app_id = builder.AddMapping(app);
  EXPECT_EQ(libc_id, 1u);
  EXPECT_EQ(app_id, 2u);
  EXPECT_EQ(builder.AddMapping(libc), libc_id);
  PprofMapping libc_other_offset = libc;
  libc_other_offset.file_offset = 0;
  EXPECT_EQ(builder.AddMapping(libc_other_offset), 3u);

  // A leaf with an inlined helper: innermost line first.
  PprofLocation leaf{.mapping_id = app_id,
                     .address = 0x401234,
                     .lines = {{"inline_helper", "_Z13inline_helperv", "app.cc", 10, 12},
                               {"work", "_Z4workv", "app.cc", 20, 25}}};
  PprofLocation caller{
      .mapping_id = app_id, .address = 0x401500, .lines = {{"main", "main", "app.cc", 40, 42}}};
  // Same function as the leaf's outer line, other line: shares the function, not the location.
  PprofLocation work_other_line{
      .mapping_id = app_id, .address = 0x401240, .lines = {{"work", "_Z4workv", "app.cc", 20, 27}}};
  PprofLocation in_libc{
      .mapping_id = libc_id, .address = 0x7f0000001000, .lines = {{"read", "read", "", 0, 0}}};
  PprofLocation unmapped{.mapping_id = 0, .address = 0xdeadbeef, .lines = {}};
  const uint64_t leaf_id = builder.AddLocation(leaf);
  const uint64_t caller_id = builder.AddLocation(caller);
  const uint64_t work_id = builder.AddLocation(work_other_line);
  const uint64_t libc_loc_id = builder.AddLocation(in_libc);
  const uint64_t unmapped_id = builder.AddLocation(unmapped);
  EXPECT_EQ(leaf_id, 1u);
  EXPECT_EQ(caller_id, 2u);
  EXPECT_EQ(work_id, 3u);
  EXPECT_EQ(libc_loc_id, 4u);
  EXPECT_EQ(unmapped_id, 5u);
  EXPECT_EQ(builder.AddLocation(leaf), leaf_id);
  EXPECT_EQ(builder.AddLocation(unmapped), unmapped_id);

  const std::array<uint64_t, 2> stack1{leaf_id, caller_id};
  const std::array<int64_t, 2> values1{3, 30'303'030};
  const std::array<PprofLabel, 2> labels1{
      PprofLabel{.key = "thread_name", .str = "worker-1"},
      PprofLabel{.key = "thread_id", .num = 4242, .num_unit = "", .numeric = true}};
  builder.AddSample(stack1, values1, labels1);
  const std::array<uint64_t, 4> stack2{libc_loc_id, work_id, caller_id, unmapped_id};
  const std::array<int64_t, 2> values2{1, 10'101'010};
  const std::array<PprofLabel, 1> labels2{
      PprofLabel{.key = "bytes", .num = 512, .num_unit = "bytes", .numeric = true}};
  builder.AddSample(stack2, values2, labels2);
  EXPECT_EQ(builder.sample_count(), 2u);

  const Result<std::string> gz = builder.SerializeGzip();
  ASSERT_TRUE(gz.ok()) << gz.status().message();
  ASSERT_GE(gz->size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);
  const Result<pb::Profile> parsed = ParsePprof(*gz, kMaxBytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  const pb::Profile& p = *parsed;

  // Strings: index 0 is "", and every string appears exactly once.
  ASSERT_GT(p.string_table_size(), 0);
  EXPECT_EQ(p.string_table(0), "");
  std::set<std::string> unique(p.string_table().begin(), p.string_table().end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(p.string_table_size()));

  // Header.
  ASSERT_EQ(p.sample_type_size(), 2);
  EXPECT_EQ(Str(p, p.sample_type(0).type()), "samples");
  EXPECT_EQ(Str(p, p.sample_type(0).unit()), "count");
  EXPECT_EQ(Str(p, p.sample_type(1).type()), "cpu");
  EXPECT_EQ(Str(p, p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(Str(p, p.period_type().type()), "cpu");
  EXPECT_EQ(Str(p, p.period_type().unit()), "nanoseconds");
  EXPECT_EQ(p.period(), 10'101'010);
  EXPECT_EQ(p.time_nanos(), 1'700'000'000'000'000'000);
  EXPECT_EQ(p.duration_nanos(), 60'000'000'000);

  // Mappings.
  ASSERT_EQ(p.mapping_size(), 3);
  const pb::Mapping& m1 = p.mapping(0);
  EXPECT_EQ(m1.id(), 1u);
  EXPECT_EQ(m1.memory_start(), 0x7f0000000000u);
  EXPECT_EQ(m1.memory_limit(), 0x7f0000200000u);
  EXPECT_EQ(m1.file_offset(), 0x28000u);
  EXPECT_EQ(Str(p, m1.filename()), "/usr/lib/libc.so.6");
  EXPECT_EQ(Str(p, m1.build_id()), "abcdef0123");
  EXPECT_TRUE(m1.has_functions());
  EXPECT_TRUE(m1.has_filenames());
  EXPECT_FALSE(m1.has_line_numbers());
  const pb::Mapping& m2 = p.mapping(1);
  EXPECT_EQ(m2.id(), 2u);
  EXPECT_EQ(Str(p, m2.filename()), "/opt/app");
  EXPECT_EQ(m2.build_id(), 0);
  EXPECT_TRUE(m2.has_line_numbers());
  EXPECT_EQ(p.mapping(2).file_offset(), 0u);
  EXPECT_EQ(p.mapping(2).filename(), m1.filename());

  // Functions: work() is shared by two locations; 4 distinct functions in all.
  ASSERT_EQ(p.function_size(), 4);
  // Locations.
  ASSERT_EQ(p.location_size(), 5);
  const pb::Location& l1 = p.location(0);
  EXPECT_EQ(l1.id(), 1u);
  EXPECT_EQ(l1.mapping_id(), app_id);
  EXPECT_EQ(l1.address(), 0x401234u);
  ASSERT_EQ(l1.line_size(), 2);
  const pb::Function& inlined = FunctionById(p, l1.line(0).function_id());
  EXPECT_EQ(Str(p, inlined.name()), "inline_helper");
  EXPECT_EQ(Str(p, inlined.system_name()), "_Z13inline_helperv");
  EXPECT_EQ(Str(p, inlined.filename()), "app.cc");
  EXPECT_EQ(inlined.start_line(), 10);
  EXPECT_EQ(l1.line(0).line(), 12);
  const pb::Function& work = FunctionById(p, l1.line(1).function_id());
  EXPECT_EQ(Str(p, work.name()), "work");
  EXPECT_EQ(work.start_line(), 20);
  EXPECT_EQ(l1.line(1).line(), 25);
  const pb::Location& l3 = p.location(2);
  ASSERT_EQ(l3.line_size(), 1);
  EXPECT_EQ(l3.line(0).function_id(), l1.line(1).function_id());
  EXPECT_EQ(l3.line(0).line(), 27);
  const pb::Location& l4 = p.location(3);
  EXPECT_EQ(l4.mapping_id(), libc_id);
  ASSERT_EQ(l4.line_size(), 1);
  const pb::Function& read = FunctionById(p, l4.line(0).function_id());
  EXPECT_EQ(Str(p, read.name()), "read");
  EXPECT_EQ(read.filename(), 0);
  const pb::Location& l5 = p.location(4);
  EXPECT_EQ(l5.mapping_id(), 0u);
  EXPECT_EQ(l5.address(), 0xdeadbeefu);
  EXPECT_EQ(l5.line_size(), 0);

  // Samples.
  ASSERT_EQ(p.sample_size(), 2);
  const pb::Sample& s1 = p.sample(0);
  EXPECT_EQ(std::vector<uint64_t>(s1.location_id().begin(), s1.location_id().end()),
            (std::vector<uint64_t>{leaf_id, caller_id}));
  EXPECT_EQ(std::vector<int64_t>(s1.value().begin(), s1.value().end()),
            (std::vector<int64_t>{3, 30'303'030}));
  ASSERT_EQ(s1.label_size(), 2);
  EXPECT_EQ(Str(p, s1.label(0).key()), "thread_name");
  EXPECT_EQ(Str(p, s1.label(0).str()), "worker-1");
  EXPECT_EQ(s1.label(0).num(), 0);
  EXPECT_EQ(Str(p, s1.label(1).key()), "thread_id");
  EXPECT_EQ(s1.label(1).str(), 0);
  EXPECT_EQ(s1.label(1).num(), 4242);
  EXPECT_EQ(s1.label(1).num_unit(), 0);
  const pb::Sample& s2 = p.sample(1);
  EXPECT_EQ(std::vector<uint64_t>(s2.location_id().begin(), s2.location_id().end()),
            (std::vector<uint64_t>{libc_loc_id, work_id, caller_id, unmapped_id}));
  EXPECT_EQ(std::vector<int64_t>(s2.value().begin(), s2.value().end()),
            (std::vector<int64_t>{1, 10'101'010}));
  ASSERT_EQ(s2.label_size(), 1);
  EXPECT_EQ(Str(p, s2.label(0).key()), "bytes");
  EXPECT_EQ(s2.label(0).num(), 512);
  EXPECT_EQ(Str(p, s2.label(0).num_unit()), "bytes");

  // The uncompressed form parses to the same message.
  const Result<pb::Profile> raw = ParsePprof(builder.SerializeUncompressed(), kMaxBytes);
  ASSERT_TRUE(raw.ok()) << raw.status().message();
  EXPECT_EQ(raw->SerializeAsString(), p.SerializeAsString());
}

TEST(PprofBuilderTest, EmptyProfileIsValid) {
  PprofBuilder builder(CpuHeader());
  EXPECT_EQ(builder.sample_count(), 0u);
  const Result<std::string> gz = builder.SerializeGzip();
  ASSERT_TRUE(gz.ok());
  const Result<pb::Profile> parsed = ParsePprof(*gz, kMaxBytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->sample_size(), 0);
  EXPECT_EQ(parsed->string_table(0), "");
}

// A valid one-sample profile to corrupt in the tests below.
pb::Profile ValidProfile() {
  PprofBuilder builder(CpuHeader());
  const uint64_t mapping = builder.AddMapping({.filename = "/bin/x"});
  const uint64_t location =
      builder.AddLocation({.mapping_id = mapping, .address = 1, .lines = {{.function_name = "f"}}});
  const std::array<uint64_t, 1> stack{location};
  const std::array<int64_t, 2> values{1, 2};
  builder.AddSample(stack, values, {});
  pb::Profile p;
  EXPECT_TRUE(p.ParseFromString(builder.SerializeUncompressed()));
  return p;
}

std::string ParseError(const pb::Profile& p) {
  const Result<pb::Profile> parsed = ParsePprof(p.SerializeAsString(), kMaxBytes);
  return parsed.ok() ? "" : parsed.status().message();
}

TEST(ParsePprofTest, RejectsBrokenReferences) {
  EXPECT_EQ(ParseError(ValidProfile()), "");

  pb::Profile p = ValidProfile();
  p.set_string_table(0, "x");
  EXPECT_EQ(ParseError(p), "pprof: string_table[0] must be the empty string");

  p = ValidProfile();
  p.mutable_sample(0)->add_value(7);
  EXPECT_EQ(ParseError(p), "pprof: sample 0 has 3 values for 2 sample types");

  p = ValidProfile();
  p.mutable_sample(0)->set_location_id(0, 9);
  EXPECT_EQ(ParseError(p), "pprof: sample 0 refers to unknown location 9");

  p = ValidProfile();
  p.mutable_location(0)->set_mapping_id(5);
  EXPECT_EQ(ParseError(p), "pprof: location 1 refers to unknown mapping 5");

  p = ValidProfile();
  p.mutable_location(0)->mutable_line(0)->set_function_id(3);
  EXPECT_EQ(ParseError(p), "pprof: location 1 refers to unknown function 3");

  p = ValidProfile();
  p.mutable_function(0)->set_name(1000);
  EXPECT_EQ(ParseError(p), "pprof: function name: string index 1000 out of range (table has " +
                               std::to_string(p.string_table_size()) + ")");

  p = ValidProfile();
  *p.add_mapping() = p.mapping(0);
  EXPECT_EQ(ParseError(p), "pprof: duplicate mapping id 1");

  p = ValidProfile();
  p.mutable_location(0)->set_id(0);
  EXPECT_EQ(ParseError(p), "pprof: location with id 0");
}

TEST(ParsePprofTest, RejectsMalformedBytes) {
  const Result<pb::Profile> garbage = ParsePprof(std::string("\xff\xff\xff\xff", 4), kMaxBytes);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().message(), "pprof: invalid protobuf encoding");
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidInput);

  const std::string raw = ValidProfile().SerializeAsString();
  const Result<pb::Profile> too_big = ParsePprof(raw, raw.size() - 1);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("exceeds the limit"), std::string::npos);
  EXPECT_EQ(too_big.status().code(), StatusCode::kTooLarge);

  const Result<std::string> gz = GzipCompress(raw);
  ASSERT_TRUE(gz.ok());
  const Result<pb::Profile> bomb = ParsePprof(*gz, raw.size() - 1);
  EXPECT_EQ(bomb.status().code(), StatusCode::kTooLarge);
  const Result<pb::Profile> truncated = ParsePprof(gz->substr(0, gz->size() / 2), kMaxBytes);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().message(), "gzip: unexpected end of stream");
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace profkit::profile
