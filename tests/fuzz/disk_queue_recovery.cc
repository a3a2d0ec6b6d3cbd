// Disk-queue segment recovery (forward::DiskQueue::Open): after a crash or a full disk the
// segments may hold torn, corrupted or foreign bytes, and Open must skip or truncate them and
// deliver exactly the records whose checksums hold. The input is split into two segment files;
// when the first byte's low bit is set, every record header found is given its correct CRC first
// (random bytes almost never carry one), so the fuzzer reaches the payload and resync paths.
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "profkit/forward/disk_queue.h"

namespace {

std::string g_dir;

uint32_t GetU32(const std::string& bytes, size_t offset) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  }
  return value;
}

// Record layout (forward/disk_queue.cc): "PKQ1", u32 length, u32 CRC32 of length and payload.
void FixChecksums(std::string& bytes) {
  const size_t header = profkit::forward::kDiskQueueRecordHeaderBytes;
  for (size_t offset = 0; bytes.size() >= header && offset <= bytes.size() - header;) {
    if (std::memcmp(bytes.data() + offset, "PKQ1", 4) != 0) {
      ++offset;
      continue;
    }
    const uint32_t length = GetU32(bytes, offset + 4);
    if (bytes.size() - offset - header < length) {
      ++offset;
      continue;
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + offset + 4), 4);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + offset + header), length);
    for (int i = 0; i < 4; ++i) bytes[offset + 8 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
    offset += header + length;
  }
}

void WriteSegment(const std::string& name, std::string_view bytes) {
  const int fd = open((g_dir + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n <= 0) break;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  profkit::fuzz::QuietLogs();
  // tmpfs when there is one: fsync is free there, and the fuzzer writes thousands of segments.
  const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  g_dir = std::string(base) + "/profkit-fuzz-queue-" + std::to_string(getpid());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  if ((data[0] & 1) != 0) FixChecksums(bytes);
  const size_t split = bytes.size() * data[1] / 255;

  std::filesystem::remove_all(g_dir);
  std::filesystem::create_directories(g_dir);
  WriteSegment("seg-00000000000000000001.q", std::string_view(bytes).substr(0, split));
  WriteSegment("seg-00000000000000000002.q", std::string_view(bytes).substr(split));
  {
    profkit::forward::DiskQueueOptions options;
    options.dir = g_dir;
    options.capacity_bytes = 1 << 20;
    options.segment_bytes = 4096;
    auto queue = profkit::forward::DiskQueue::Open(options);
    if (queue.ok()) {
      const auto now = std::chrono::steady_clock::now();
      bool release = (data[0] & 2) != 0;
      while (auto lease = (*queue)->Take(now)) {
        if (release) {
          (*queue)->Release(lease->id);
          release = false;  // taken again next round, then acknowledged
        } else {
          (*queue)->Ack(lease->id);
        }
      }
      (void)(*queue)->Push("after recovery");
      (*queue)->Close();
    }
  }
  std::filesystem::remove_all(g_dir);
  return 0;
}
