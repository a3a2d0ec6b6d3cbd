#include "profkit/sampling/record_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "profkit/bpf_abi.h"
#include "profkit/common/file_util.h"
#include "profkit/sampling/replay_source.h"
#include "testing/temp_dir.h"

namespace profkit::sampling {
namespace {

std::vector<uint8_t> ExecEventBytes(uint32_t pid) {
  profkit_process_event event = {};
  event.kind = PROFKIT_EVENT_EXEC;
  event.pid = pid;
  event.ppid = 1;
  std::strcpy(event.comm, "job");
  const auto* p = reinterpret_cast<const uint8_t*>(&event);
  return {p, p + sizeof(event)};
}

std::vector<uint8_t> SampleBytes(uint32_t pid, uint64_t ip) {
  profkit_sample_header header = {};
  header.kind = PROFKIT_EVENT_SAMPLE;
  header.pid = pid;
  header.tid = pid;
  std::strcpy(header.comm, "job");
  header.user_depth = 1;
  std::vector<uint8_t> bytes(sizeof(header) + sizeof(ip));
  std::memcpy(bytes.data(), &header, sizeof(header));
  std::memcpy(bytes.data() + sizeof(header), &ip, sizeof(ip));
  return bytes;
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class RecordFileTest : public ::testing::Test {
 protected:
  std::string WriteSession() {
    const std::string path = dir_.path() + "/session.pkrf";
    auto writer = RecordFileWriter::Create(path);
    EXPECT_TRUE(writer.ok()) << writer.status().message();
    EXPECT_TRUE((*writer)->AppendRecord(ExecEventBytes(100)).ok());
    EXPECT_TRUE((*writer)->AppendProcess(process_).ok());
    EXPECT_TRUE((*writer)->AppendRecord(SampleBytes(100, 0x401000)).ok());
    EXPECT_TRUE((*writer)->AppendRecord(std::vector<uint8_t>{1, 2, 3}).ok());  // undecodable
    EXPECT_TRUE((*writer)->Close().ok());
    return path;
  }

  testing::TempDir dir_;
  const ProcessSnapshot process_{.pid = 100,
                                 .maps = "401000-402000 r-xp 00001000 08:01 42 /bin/job\n",
                                 .stat = "100 (job) S 1 1 1 0 -1",
                                 .environ = std::string("DD_SERVICE=billing\0", 19),
                                 .exe = "/bin/job",
                                 .cmdline = std::nullopt};
};

TEST_F(RecordFileTest, RoundTripsRecordsAndProcessFacts) {
  auto contents = ReadRecordFile(WriteSession());
  ASSERT_TRUE(contents.ok()) << contents.status().message();
  ASSERT_EQ(contents->records.size(), 3u);
  EXPECT_EQ(contents->records[0], ExecEventBytes(100));
  EXPECT_EQ(contents->records[1], SampleBytes(100, 0x401000));
  ASSERT_EQ(contents->processes.count(100), 1u);
  EXPECT_EQ(contents->processes.at(100), process_);
  EXPECT_FALSE(contents->truncated);
}

TEST_F(RecordFileTest, CutFileReadsUpToTheLastWholeFrame) {
  auto data = ReadFileBounded(WriteSession(), 1 << 20);
  ASSERT_TRUE(data.ok());
  const std::string cut = data->substr(0, data->size() - 2);
  auto contents = ParseRecordFile(AsBytes(cut));
  ASSERT_TRUE(contents.ok()) << contents.status().message();
  EXPECT_EQ(contents->records.size(), 2u);
  EXPECT_TRUE(contents->truncated);
}

TEST_F(RecordFileTest, RejectsWrongMagicVersionKindAndLengths) {
  auto data = ReadFileBounded(WriteSession(), 1 << 20);
  ASSERT_TRUE(data.ok());
  std::string bad = *data;
  bad[0] = 'X';
  EXPECT_NE(ParseRecordFile(AsBytes(bad)).status().message().find("magic"), std::string::npos);
  bad = *data;
  bad[4] = 9;
  EXPECT_NE(ParseRecordFile(AsBytes(bad)).status().message().find("version 9"), std::string::npos);
  bad = *data;
  bad[8] = 7;  // the first frame's kind
  EXPECT_NE(ParseRecordFile(AsBytes(bad)).status().message().find("unknown kind 7"),
            std::string::npos);
  bad = *data;
  bad[15] = 0x7f;  // the first frame's length, far above the limit
  EXPECT_NE(ParseRecordFile(AsBytes(bad)).status().message().find("exceeds"), std::string::npos);
}

TEST_F(RecordFileTest, ReplayWritesTheProcTreeAndReplaysInOrder) {
  const std::string proc = dir_.path() + "/proc";
  auto source = ReplaySource::Open(WriteSession(), proc, /*records_per_poll=*/2);
  ASSERT_TRUE(source.ok()) << source.status().message();
  EXPECT_EQ(*ReadFileBounded(proc + "/100/maps", 4096), *process_.maps);
  EXPECT_EQ(std::filesystem::read_symlink(proc + "/100/exe"), "/bin/job");
  EXPECT_EQ(std::filesystem::read_symlink(proc + "/100/root"), "/");
  EXPECT_FALSE(std::filesystem::exists(proc + "/100/cmdline")) << "absent at capture";

  std::vector<Record> seen;
  std::vector<size_t> tapped;
  (*source)->SetRawRecordTap(
      [&](std::span<const uint8_t> bytes) { tapped.push_back(bytes.size()); });
  const auto collect = [&](const Record& record) { seen.push_back(record); };
  EXPECT_EQ(*(*source)->Poll(std::chrono::milliseconds(0), collect), 2);
  EXPECT_FALSE((*source)->exhausted());
  EXPECT_EQ(*(*source)->Poll(std::chrono::milliseconds(0), collect), 0) << "the bad record";
  EXPECT_TRUE((*source)->exhausted());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(std::get<ProcessEventRecord>(seen[0]).pid, 100u);
  EXPECT_EQ(std::get<SampleRecord>(seen[1]).user_ips, std::vector<uint64_t>{0x401000});
  EXPECT_EQ(tapped.size(), 3u);
  const SamplerCounters counters = (*source)->counters();
  EXPECT_EQ(counters.samples, 1u);
  EXPECT_EQ(counters.process_events, 1u);
  EXPECT_EQ(counters.decode_errors, 1u);
}

}  // namespace
}  // namespace profkit::sampling
