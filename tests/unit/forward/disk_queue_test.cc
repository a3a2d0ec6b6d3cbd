#include "profkit/forward/disk_queue.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "../testing/temp_dir.h"

namespace profkit::forward {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::unique_ptr<DiskQueue> OpenQueue(const DiskQueueOptions& options) {
  Result<std::unique_ptr<DiskQueue>> queue = DiskQueue::Open(options);
  EXPECT_TRUE(queue.ok()) << queue.status().message();
  return queue.ok() ? std::move(queue).value() : nullptr;
}

// Takes every record without blocking for long and acks it (or not).
std::vector<std::string> Drain(DiskQueue& queue, bool ack = true) {
  std::vector<std::string> out;
  while (auto lease = queue.Take(steady_clock::now() + milliseconds(20))) {
    out.push_back(lease->payload);
    if (ack) queue.Ack(lease->id);
  }
  return out;
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

class DiskQueueTest : public ::testing::Test {
 protected:
  DiskQueueOptions Options() const {
    DiskQueueOptions options;
    options.dir = dir_.path() + "/queue";
    options.capacity_bytes = 1 << 20;
    return options;
  }
  // The one segment file after pushing and closing (the empty one being written to is removed
  // by a clean close).
  std::string OnlyRecordSegment() const {
    const std::vector<std::string> files = SegmentFiles(Options().dir);
    EXPECT_EQ(files.size(), 1u);
    return files.front();
  }

  testing::TempDir dir_;
};

TEST_F(DiskQueueTest, DeliversInOrderAndForgetsAckedRecords) {
  auto queue = OpenQueue(Options());
  for (const char* payload : {"a", "bb", ""}) ASSERT_TRUE(queue->Push(payload).ok());
  EXPECT_EQ(Drain(*queue), (std::vector<std::string>{"a", "bb", ""}));
  const DiskQueueCounters counters = queue->counters();
  EXPECT_EQ(counters.pushed, 3u);
  EXPECT_EQ(counters.acked, 3u);
  EXPECT_EQ(counters.pending_records, 0u);
  EXPECT_TRUE(queue->WaitEmpty(steady_clock::now()));
  queue.reset();
  queue = OpenQueue(Options());
  EXPECT_EQ(queue->counters().recovered, 0u);
  EXPECT_TRUE(Drain(*queue).empty());
}

TEST_F(DiskQueueTest, RestartResumesEveryUnackedRecord) {
  auto queue = OpenQueue(Options());
  for (const char* payload : {"one", "two", "three"}) ASSERT_TRUE(queue->Push(payload).ok());
  auto lease = queue->Take(steady_clock::now());
  ASSERT_TRUE(lease);
  EXPECT_EQ(lease->payload, "one");  // taken, never acked: the process "dies" while sending
  queue.reset();

  queue = OpenQueue(Options());
  EXPECT_EQ(queue->counters().recovered, 3u);
  EXPECT_EQ(Drain(*queue), (std::vector<std::string>{"one", "two", "three"}));
  ASSERT_TRUE(queue->Push("four").ok());
  queue.reset();
  queue = OpenQueue(Options());
  EXPECT_EQ(Drain(*queue), (std::vector<std::string>{"four"}));
}

TEST_F(DiskQueueTest, ReleasedRecordsGoToTheBack) {
  auto queue = OpenQueue(Options());
  for (const char* payload : {"a", "b"}) ASSERT_TRUE(queue->Push(payload).ok());
  auto a = queue->Take(steady_clock::now());
  ASSERT_TRUE(a);
  queue->Release(a->id);
  EXPECT_EQ(Drain(*queue), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(queue->counters().released, 1u);
}

TEST_F(DiskQueueTest, TornTailIsTruncatedAndAppendingResumes) {
  auto queue = OpenQueue(Options());
  for (const char* payload : {"alpha", "beta"}) ASSERT_TRUE(queue->Push(payload).ok());
  queue.reset();
  const std::string segment = OnlyRecordSegment();
  const std::string intact = ReadFile(segment);
  // A crash in the middle of writing a third record: its header (a copy of the 5-byte "alpha"
  // record's) and 3 of its 5 payload bytes.
  WriteFile(segment, intact + intact.substr(0, kDiskQueueRecordHeaderBytes) + "gam");

  queue = OpenQueue(Options());
  EXPECT_EQ(queue->counters().torn_tail_bytes, kDiskQueueRecordHeaderBytes + 3);
  EXPECT_EQ(queue->counters().corrupted_records, 0u);
  EXPECT_EQ(ReadFile(segment), intact);
  EXPECT_EQ(Drain(*queue, /*ack=*/false), (std::vector<std::string>{"alpha", "beta"}));
}

TEST_F(DiskQueueTest, BitFlipsSkipOneRecordEach) {
  for (const size_t flip_offset :
       {kDiskQueueRecordHeaderBytes + 1 + kDiskQueueRecordHeaderBytes + 2,
        kDiskQueueRecordHeaderBytes + 1 + 4,  // length field
        kDiskQueueRecordHeaderBytes + 1 + 9,  // checksum
        kDiskQueueRecordHeaderBytes + 1}) {   // magic
    SCOPED_TRACE(flip_offset);
    DiskQueueOptions options = Options();
    options.clear_on_start = true;
    auto queue = OpenQueue(options);
    for (const char* payload : {"a", "bbbbbb", "c"}) ASSERT_TRUE(queue->Push(payload).ok());
    queue.reset();
    const std::string segment = OnlyRecordSegment();
    std::string data = ReadFile(segment);
    data[flip_offset] = static_cast<char>(data[flip_offset] ^ 0x10);
    WriteFile(segment, data);

    queue = OpenQueue(Options());
    EXPECT_EQ(queue->counters().corrupted_records, 1u);
    EXPECT_EQ(queue->counters().torn_tail_bytes, 0u);
    EXPECT_EQ(Drain(*queue, /*ack=*/false), (std::vector<std::string>{"a", "c"}));
  }
}

TEST_F(DiskQueueTest, CorruptionAfterPushIsCaughtWhenTaken) {
  auto queue = OpenQueue(Options());
  ASSERT_TRUE(queue->Push("payload").ok());
  ASSERT_TRUE(queue->Push("next").ok());
  const std::string segment = SegmentFiles(Options().dir).back();
  std::string data = ReadFile(segment);
  data[kDiskQueueRecordHeaderBytes] ^= 1;
  WriteFile(segment, data);  // same inode: the queue's open descriptor sees the change
  EXPECT_EQ(Drain(*queue), (std::vector<std::string>{"next"}));
  EXPECT_EQ(queue->counters().corrupted_records, 1u);
  EXPECT_EQ(queue->counters().pending_records, 0u);
}

TEST_F(DiskQueueTest, OverCapacityEvictsTheOldestRecords) {
  DiskQueueOptions options = Options();
  const std::string payload(1000, 'x');
  options.capacity_bytes = 10 * (payload.size() + kDiskQueueRecordHeaderBytes);
  options.segment_bytes = 2 * (payload.size() + kDiskQueueRecordHeaderBytes);
  auto queue = OpenQueue(options);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(queue->Push(std::to_string(i) + payload).ok());
  const DiskQueueCounters counters = queue->counters();
  EXPECT_LE(counters.disk_bytes, options.capacity_bytes);
  EXPECT_EQ(counters.evicted_records + counters.pending_records, 30u);
  EXPECT_GE(counters.pending_records, 8u);
  const std::vector<std::string> left = Drain(*queue);
  ASSERT_EQ(left.size(), counters.pending_records);
  // The newest survive, in order.
  for (size_t i = 0; i < left.size(); ++i) {
    EXPECT_EQ(left[i], std::to_string(30 - left.size() + i) + payload);
  }
}

TEST_F(DiskQueueTest, RecordLargerThanTheCapacityIsRefused) {
  DiskQueueOptions options = Options();
  options.capacity_bytes = 100;
  auto queue = OpenQueue(options);
  const Status refused = queue->Push(std::string(100, 'x'));
  EXPECT_EQ(refused.code(), StatusCode::kTooLarge) << refused.message();
  EXPECT_TRUE(queue->Push(std::string(50, 'x')).ok());
  EXPECT_EQ(queue->counters().push_errors, 1u);
}

TEST_F(DiskQueueTest, ClearOnStartDropsEverything) {
  auto queue = OpenQueue(Options());
  ASSERT_TRUE(queue->Push("old").ok());
  queue.reset();
  DiskQueueOptions options = Options();
  options.clear_on_start = true;
  queue = OpenQueue(options);
  EXPECT_EQ(queue->counters().recovered, 0u);
  EXPECT_TRUE(Drain(*queue).empty());
}

// A full disk, simulated with RLIMIT_FSIZE (no root needed): the push fails, leaves no partial
// record, and the queue keeps working once there is room again.
TEST_F(DiskQueueTest, WriteFailureLeavesNoPartialRecord) {
  auto queue = OpenQueue(Options());
  ASSERT_TRUE(queue->Push("before").ok());
  const std::string segment = SegmentFiles(Options().dir).back();
  const auto size_before = std::filesystem::file_size(segment);

  rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  const auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit limit = old_limit;
  limit.rlim_cur = size_before + 100;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  const Status failed = queue->Push(std::string(1000, 'y'));
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  signal(SIGXFSZ, old_handler);

  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("File too large"), std::string::npos) << failed.message();
  EXPECT_EQ(std::filesystem::file_size(segment), size_before);
  EXPECT_EQ(queue->counters().push_errors, 1u);
  ASSERT_TRUE(queue->Push("after").ok());
  queue.reset();
  queue = OpenQueue(Options());
  EXPECT_EQ(queue->counters().corrupted_records + queue->counters().torn_tail_bytes, 0u);
  EXPECT_EQ(Drain(*queue), (std::vector<std::string>{"before", "after"}));
}

TEST_F(DiskQueueTest, ConcurrentProducersAndConsumersDeliverEachRecordOnce) {
  DiskQueueOptions options = Options();
  options.segment_bytes = 4096;  // many rotations and deletions on the way
  auto queue = OpenQueue(options);
  constexpr int kProducers = 4, kPerProducer = 200;
  std::mutex mutex;
  std::multiset<std::string> received;
  std::vector<std::thread> consumers;
  for (int c = 0; c < 2; ++c) {
    consumers.emplace_back([&] {
      while (auto lease = queue->Take(steady_clock::now() + std::chrono::seconds(30))) {
        {
          std::lock_guard lock(mutex);
          received.insert(lease->payload);
        }
        queue->Ack(lease->id);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        EXPECT_TRUE(queue->Push(fmt::format("{}-{}-{}", p, i, std::string(50, 'z'))).ok());
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  EXPECT_TRUE(queue->WaitEmpty(steady_clock::now() + std::chrono::seconds(30)));
  queue->Close();
  for (std::thread& consumer : consumers) consumer.join();
  EXPECT_EQ(received.size(), static_cast<size_t>(kProducers * kPerProducer));
  EXPECT_EQ(std::set<std::string>(received.begin(), received.end()).size(), received.size());
  // Delivered segments are gone: only the one being written to is left.
  EXPECT_LE(SegmentFiles(options.dir).size(), 2u);
}

}  // namespace
}  // namespace profkit::forward
