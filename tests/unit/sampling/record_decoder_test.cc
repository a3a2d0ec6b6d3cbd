#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "profkit/bpf_abi.h"
#include "profkit/sampling/record.h"

namespace profkit::sampling {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

template <typename T>
void Append(std::vector<uint8_t>& bytes, const T& value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  bytes.insert(bytes.end(), p, p + sizeof(T));
}

profkit_sample_header SampleHeader(uint16_t kernel_depth, uint16_t user_depth, uint32_t flags = 0) {
  profkit_sample_header header = {};
  header.kind = PROFKIT_EVENT_SAMPLE;
  header.pid = 1234;
  header.tid = 1240;
  header.cpu = 1;
  header.ktime_ns = 987654321012;
  std::strcpy(header.comm, "busy");
  header.kernel_depth = kernel_depth;
  header.user_depth = user_depth;
  header.flags = flags;
  return header;
}

std::vector<uint8_t> SampleBytes(const profkit_sample_header& header,
                                 const std::vector<uint64_t>& ips) {
  std::vector<uint8_t> bytes;
  Append(bytes, header);
  for (const uint64_t ip : ips) Append(bytes, ip);
  return bytes;
}

std::vector<uint8_t> ProcessEventBytes(uint32_t kind, const char* comm) {
  profkit_process_event event = {};
  event.kind = kind;
  event.pid = 42;
  event.ppid = 7;
  std::memcpy(event.comm, comm, std::min(std::strlen(comm), sizeof(event.comm)));
  std::vector<uint8_t> bytes;
  Append(bytes, event);
  return bytes;
}

TEST(DecodeRecordTest, DecodesSampleWithKernelThenUserIps) {
  const auto bytes =
      SampleBytes(SampleHeader(2, 3, PROFKIT_SAMPLE_USER_STACK_TRUNCATED),
                  {0xffffffff81000010, 0xffffffff81000020, 0x401000, 0x401100, 0x7f0000001000});
  auto record = DecodeRecord(bytes);
  ASSERT_TRUE(record.ok()) << record.status().message();
  const auto& sample = std::get<SampleRecord>(*record);
  EXPECT_EQ(sample.pid, 1234u);
  EXPECT_EQ(sample.tid, 1240u);
  EXPECT_EQ(sample.cpu, 1u);
  EXPECT_EQ(sample.ktime_ns, 987654321012u);
  EXPECT_EQ(sample.comm, "busy");
  EXPECT_THAT(sample.kernel_ips, ElementsAre(0xffffffff81000010, 0xffffffff81000020));
  EXPECT_THAT(sample.user_ips, ElementsAre(0x401000, 0x401100, 0x7f0000001000));
  EXPECT_TRUE(sample.user_stack_truncated);
  EXPECT_FALSE(sample.kernel_stack_truncated);
  EXPECT_FALSE(sample.user_stack_error);
  EXPECT_FALSE(sample.kernel_stack_error);
}

TEST(DecodeRecordTest, DecodesZeroDepthStacksAndErrorFlags) {
  const auto bytes = SampleBytes(
      SampleHeader(0, 0, PROFKIT_SAMPLE_KERNEL_STACK_ERROR | PROFKIT_SAMPLE_USER_STACK_ERROR), {});
  auto record = DecodeRecord(bytes);
  ASSERT_TRUE(record.ok()) << record.status().message();
  const auto& sample = std::get<SampleRecord>(*record);
  EXPECT_THAT(sample.kernel_ips, IsEmpty());
  EXPECT_THAT(sample.user_ips, IsEmpty());
  EXPECT_TRUE(sample.kernel_stack_error);
  EXPECT_TRUE(sample.user_stack_error);
}

TEST(DecodeRecordTest, DecodesMaximumDepth) {
  std::vector<uint64_t> ips(2 * PROFKIT_MAX_STACK_DEPTH, 0x1000);
  auto record = DecodeRecord(
      SampleBytes(SampleHeader(PROFKIT_MAX_STACK_DEPTH, PROFKIT_MAX_STACK_DEPTH), ips));
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(std::get<SampleRecord>(*record).user_ips.size(), size_t{PROFKIT_MAX_STACK_DEPTH});
}

TEST(DecodeRecordTest, DecodesUnalignedInput) {
  const auto bytes = SampleBytes(SampleHeader(1, 1), {0xffffffff81000010, 0x401000});
  std::vector<uint8_t> shifted(1);
  shifted.insert(shifted.end(), bytes.begin(), bytes.end());
  auto record = DecodeRecord(std::span(shifted).subspan(1));
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_THAT(std::get<SampleRecord>(*record).user_ips, ElementsAre(0x401000));
}

TEST(DecodeRecordTest, StackTopOnlyWhenMarkedValid) {
  profkit_sample_header header = SampleHeader(0, 1);
  for (int i = 0; i < PROFKIT_STACK_TOP_WORDS; ++i) header.user_stack_top[i] = 0x1000 + i;
  auto without = DecodeRecord(SampleBytes(header, {0x401000}));
  ASSERT_TRUE(without.ok()) << without.status().message();
  EXPECT_TRUE(std::get<SampleRecord>(*without).user_stack_top.empty());

  header.flags = PROFKIT_SAMPLE_USER_STACK_TOP_VALID;
  auto with = DecodeRecord(SampleBytes(header, {0x401000}));
  ASSERT_TRUE(with.ok()) << with.status().message();
  EXPECT_THAT(std::get<SampleRecord>(*with).user_stack_top,
              ElementsAre(0x1000, 0x1001, 0x1002, 0x1003, 0x1004, 0x1005, 0x1006, 0x1007));
}

profkit_python_frame PythonFrame(uint64_t code, int32_t instruction, uint16_t checksum,
                                 uint16_t flags) {
  profkit_python_frame frame = {};
  frame.code_object = code;
  frame.instruction = instruction;
  frame.checksum = checksum;
  frame.flags = flags;
  return frame;
}

TEST(DecodeRecordTest, DecodesPythonFramesAfterTheIps) {
  profkit_sample_header header =
      SampleHeader(1, 2, PROFKIT_SAMPLE_PYTHON | PROFKIT_SAMPLE_PYTHON_TRUNCATED);
  header.python_depth = 2;
  header.python_status = PROFKIT_PYTHON_OK;
  auto bytes = SampleBytes(header, {0xffffffff81000010, 0x401000, 0x401100});
  Append(bytes, PythonFrame(0x7f0000100000, 12, 0xbeef, 0));
  Append(bytes, PythonFrame(0x7f0000200000, -1, 0x1234, PROFKIT_PYTHON_FRAME_ENTRY));
  auto record = DecodeRecord(bytes);
  ASSERT_TRUE(record.ok()) << record.status().message();
  const auto& sample = std::get<SampleRecord>(*record);
  EXPECT_THAT(sample.user_ips, ElementsAre(0x401000, 0x401100));
  EXPECT_EQ(sample.python_status, PythonWalkStatus::kOk);
  EXPECT_TRUE(sample.python_stack_truncated);
  EXPECT_THAT(sample.python_frames, ElementsAre(PythonFrameRecord{.code_object = 0x7f0000100000,
                                                                  .instruction = 12,
                                                                  .checksum = 0xbeef,
                                                                  .entry = false},
                                                PythonFrameRecord{.code_object = 0x7f0000200000,
                                                                  .instruction = -1,
                                                                  .checksum = 0x1234,
                                                                  .entry = true}));
}

TEST(DecodeRecordTest, DecodesPythonWalkFailures) {
  profkit_sample_header header = SampleHeader(0, 1, PROFKIT_SAMPLE_PYTHON);
  header.python_status = PROFKIT_PYTHON_NO_THREAD_STATE;
  auto record = DecodeRecord(SampleBytes(header, {0x401000}));
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(std::get<SampleRecord>(*record).python_status, PythonWalkStatus::kNoThreadState);

  auto native = DecodeRecord(SampleBytes(SampleHeader(0, 1), {0x401000}));
  ASSERT_TRUE(native.ok()) << native.status().message();
  EXPECT_EQ(std::get<SampleRecord>(*native).python_status, PythonWalkStatus::kNotPython);
}

TEST(DecodeRecordTest, RejectsInconsistentPythonSections) {
  profkit_sample_header header = SampleHeader(0, 0, PROFKIT_SAMPLE_PYTHON);
  header.python_depth = 2;
  auto bytes = SampleBytes(header, {});
  Append(bytes, PythonFrame(1, 0, 0, 0));
  auto short_record = DecodeRecord(bytes);
  ASSERT_FALSE(short_record.ok());
  EXPECT_THAT(short_record.status().message(), HasSubstr("python_depth=2"));

  header.python_depth = PROFKIT_MAX_PYTHON_FRAMES + 1;
  EXPECT_THAT(DecodeRecord(SampleBytes(header, {})).status().message(),
              HasSubstr("python depth 513 exceeds"));

  header.python_depth = 0;
  header.python_status = 9;
  EXPECT_THAT(DecodeRecord(SampleBytes(header, {})).status().message(),
              HasSubstr("unknown python status 9"));

  profkit_sample_header unflagged = SampleHeader(0, 0);
  unflagged.python_depth = 1;
  auto unflagged_bytes = SampleBytes(unflagged, {});
  Append(unflagged_bytes, PythonFrame(1, 0, 0, 0));
  EXPECT_THAT(DecodeRecord(unflagged_bytes).status().message(), HasSubstr("no python flag"));
}

TEST(DecodeRecordTest, RejectsCountsOverflowingTheRecord) {
  // Announces 2 + 3 IPs but carries only 4.
  const auto bytes = SampleBytes(SampleHeader(2, 3), {1, 2, 3, 4});
  auto record = DecodeRecord(bytes);
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.status().message(), HasSubstr("announces 160"));
}

TEST(DecodeRecordTest, RejectsTrailingBytes) {
  auto bytes = SampleBytes(SampleHeader(1, 0), {1});
  Append(bytes, uint64_t{2});
  EXPECT_FALSE(DecodeRecord(bytes).ok());
}

TEST(DecodeRecordTest, RejectsDepthAboveTheAbiLimit) {
  std::vector<uint64_t> ips(PROFKIT_MAX_USER_STACK_DEPTH + 1, 0x1000);
  auto record = DecodeRecord(SampleBytes(SampleHeader(0, PROFKIT_MAX_USER_STACK_DEPTH + 1), ips));
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.status().message(), HasSubstr("exceed the limits of 127 and 256"));
}

TEST(DecodeRecordTest, RejectsUnknownFlags) {
  auto record = DecodeRecord(SampleBytes(SampleHeader(0, 0, 1u << 8), {}));
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.status().message(), HasSubstr("unknown flags 0x100"));
}

TEST(DecodeRecordTest, RejectsTruncatedHeader) {
  auto bytes = SampleBytes(SampleHeader(0, 0), {});
  bytes.resize(sizeof(profkit_sample_header) - 1);
  auto record = DecodeRecord(bytes);
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.status().message(), HasSubstr("shorter than its 120-byte header"));

  const std::vector<uint8_t> tiny = {1, 0};
  auto tiny_record = DecodeRecord(tiny);
  ASSERT_FALSE(tiny_record.ok());
  EXPECT_THAT(tiny_record.status().message(), HasSubstr("shorter than its 4-byte kind"));
  EXPECT_FALSE(DecodeRecord({}).ok());
}

TEST(DecodeRecordTest, RejectsUnknownKind) {
  auto zero = DecodeRecord(ProcessEventBytes(0, "x"));
  ASSERT_FALSE(zero.ok());
  EXPECT_THAT(zero.status().message(), HasSubstr("unknown kind 0"));
  EXPECT_FALSE(DecodeRecord(ProcessEventBytes(99, "x")).ok());
}

TEST(DecodeRecordTest, TakesAllSixteenBytesOfCommWithoutNul) {
  auto header = SampleHeader(0, 0);
  std::memcpy(header.comm, "abcdefghijklmnop", PROFKIT_COMM_LEN);
  auto record = DecodeRecord(SampleBytes(header, {}));
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(std::get<SampleRecord>(*record).comm, "abcdefghijklmnop");

  auto event = DecodeRecord(ProcessEventBytes(PROFKIT_EVENT_EXEC, "0123456789abcdefXYZ"));
  ASSERT_TRUE(event.ok()) << event.status().message();
  EXPECT_EQ(std::get<ProcessEventRecord>(*event).comm, "0123456789abcdef");
}

TEST(DecodeRecordTest, DecodesProcessEvents) {
  const struct {
    uint32_t kind;
    ProcessEventRecord::Kind expected;
  } cases[] = {{PROFKIT_EVENT_EXEC, ProcessEventRecord::Kind::kExec},
               {PROFKIT_EVENT_FORK, ProcessEventRecord::Kind::kFork},
               {PROFKIT_EVENT_EXIT, ProcessEventRecord::Kind::kExit}};
  for (const auto& c : cases) {
    auto record = DecodeRecord(ProcessEventBytes(c.kind, "true"));
    ASSERT_TRUE(record.ok()) << record.status().message();
    EXPECT_EQ(std::get<ProcessEventRecord>(*record),
              (ProcessEventRecord{.kind = c.expected, .pid = 42, .ppid = 7, .comm = "true"}));
  }
}

TEST(DecodeRecordTest, RejectsProcessEventOfWrongSize) {
  auto bytes = ProcessEventBytes(PROFKIT_EVENT_EXIT, "true");
  bytes.pop_back();
  auto record = DecodeRecord(bytes);
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.status().message(), HasSubstr("27 bytes, expected 28"));
}

std::vector<uint8_t> OffCpuEndBytes(uint32_t events) {
  profkit_off_cpu_end end = {};
  end.kind = PROFKIT_EVENT_OFF_CPU_END;
  end.pid = 1234;
  end.tid = 1240;
  end.off_cpu_events = events;
  end.switch_out_ktime_ns = 987654321012;
  end.off_cpu_ns = 300'000'000;
  // Sized first: GCC 12 warns (-Wstringop-overflow) about inserting into an empty vector here.
  std::vector<uint8_t> bytes(sizeof(end));
  std::memcpy(bytes.data(), &end, sizeof(end));
  return bytes;
}

TEST(DecodeRecordTest, DecodesOffCpuStacksAsSamplesMarkedOffCpu) {
  profkit_sample_header header = SampleHeader(1, 1);
  header.kind = PROFKIT_EVENT_OFF_CPU;
  header.off_cpu_events = 10;
  auto record = DecodeRecord(SampleBytes(header, {0xffffffff81000010, 0x401000}));
  ASSERT_TRUE(record.ok()) << record.status().message();
  const auto& sample = std::get<SampleRecord>(*record);
  EXPECT_TRUE(sample.off_cpu);
  EXPECT_EQ(sample.off_cpu_events, 10u);
  EXPECT_EQ(sample.ktime_ns, 987654321012u) << "the switch-out time its end record names";
  EXPECT_THAT(sample.kernel_ips, ElementsAre(0xffffffff81000010));
  EXPECT_THAT(sample.user_ips, ElementsAre(0x401000));

  auto cpu = DecodeRecord(SampleBytes(SampleHeader(0, 1), {0x401000}));
  ASSERT_TRUE(cpu.ok());
  EXPECT_FALSE(std::get<SampleRecord>(*cpu).off_cpu);
}

TEST(DecodeRecordTest, RejectsOffCpuEventsOnTheWrongKind) {
  profkit_sample_header cpu = SampleHeader(0, 0);
  cpu.off_cpu_events = 3;
  auto record = DecodeRecord(SampleBytes(cpu, {}));
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.status().message(), HasSubstr("off_cpu_events 3"));

  profkit_sample_header off = SampleHeader(0, 0);
  off.kind = PROFKIT_EVENT_OFF_CPU;
  record = DecodeRecord(SampleBytes(off, {}));
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.status().message(), HasSubstr("off_cpu_events 0"));
}

TEST(DecodeRecordTest, DecodesOffCpuEnd) {
  auto record = DecodeRecord(OffCpuEndBytes(10));
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(std::get<OffCpuEndRecord>(*record),
            (OffCpuEndRecord{.pid = 1234,
                             .tid = 1240,
                             .switch_out_ktime_ns = 987654321012,
                             .off_cpu_ns = 300'000'000,
                             .off_cpu_events = 10}));
}

TEST(DecodeRecordTest, RejectsBadOffCpuEnds) {
  auto zero = DecodeRecord(OffCpuEndBytes(0));
  ASSERT_FALSE(zero.ok());
  EXPECT_THAT(zero.status().message(), HasSubstr("off_cpu_events 0"));
  std::vector<uint8_t> bytes = OffCpuEndBytes(1);
  bytes.pop_back();
  auto short_record = DecodeRecord(bytes);
  ASSERT_FALSE(short_record.ok());
  EXPECT_THAT(short_record.status().message(), HasSubstr("off-CPU end record has 31 bytes"));
  bytes.resize(64, 0xff);
  EXPECT_FALSE(DecodeRecord(bytes).ok());
}

}  // namespace
}  // namespace profkit::sampling
