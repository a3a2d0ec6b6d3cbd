// The record file of `profkit record --dump-records FILE`: the raw ring-buffer records of a live
// session plus the /proc facts the pipeline read for each process, so ReplaySource
// (replay_source.h) can feed the same session to the pipeline later, without root.
//
// Layout (little endian):
//   file header:  u32 magic "PKRF" | u32 version (kRecordFileVersion)
//   then frames:  u8 kind | u8[3] zero | u32 payload length | payload
//   kind 1, record:  the bytes exactly as the BPF side wrote them into the ring buffer
//                    (profkit/bpf_abi.h); decoded again with DecodeRecord on replay
//   kind 2, process: u32 pid | fields, each  u8 field | u8[3] zero | u32 length | bytes
//                    field 1 maps, 2 stat, 3 environ, 4 exe path, 5 cmdline: the file contents
//                    of /proc/PID (exe: the readlink target), each present only when readable;
//                    environ holds only the variables profkit reads (DD_SERVICE,
//                    OTEL_SERVICE_NAME, DD_ENV, DD_VERSION), never the rest of the environment.
// A process frame may appear again for the same pid (after an exec); the last one wins.
//
// The file is untrusted on read: every length is checked against kMaxRecordFrameBytes and the
// bytes that remain, unknown kinds and fields are errors naming the offset, and a file cut in
// the middle of a frame (a capture killed mid-write) reads up to the last whole frame.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::sampling {

inline constexpr uint32_t kRecordFileVersion = 1;
// A ring-buffer record is far smaller (a Python sample 512 frames deep is ~9 KiB).
inline constexpr size_t kMaxRingRecordBytes = 1 << 20;
// A process frame holds at most /proc/PID/maps (16 MiB, process::kMaxMapsBytes) and a few
// small files.
inline constexpr size_t kMaxRecordFrameBytes = 20 << 20;

// /proc facts of one process, as read at capture time; absent files are empty optionals.
struct ProcessSnapshot {
  uint32_t pid = 0;
  std::optional<std::string> maps;
  std::optional<std::string> stat;
  std::optional<std::string> environ;
  std::optional<std::string> exe;
  std::optional<std::string> cmdline;

  bool operator==(const ProcessSnapshot&) const = default;
};

// What a record file holds, in file order for the records.
struct RecordFileContents {
  std::vector<std::vector<uint8_t>> records;
  std::map<uint32_t, ProcessSnapshot> processes;  // by pid, the last frame of each
  bool truncated = false;                         // the file ended inside a frame
};

class RecordFileWriter {
 public:
  // Creates (or truncates) `path` and writes the file header.
  static Result<std::unique_ptr<RecordFileWriter>> Create(const std::string& path);
  ~RecordFileWriter();
  RecordFileWriter(const RecordFileWriter&) = delete;
  RecordFileWriter& operator=(const RecordFileWriter&) = delete;

  Status AppendRecord(std::span<const uint8_t> bytes);
  Status AppendProcess(const ProcessSnapshot& process);
  // Flushes and closes; errors of buffered writes show here.
  Status Close();

 private:
  RecordFileWriter(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  Status AppendFrame(uint8_t kind, std::span<const uint8_t> payload);

  std::FILE* file_;
  std::string path_;
};

// Parses a whole record file held in memory.
Result<RecordFileContents> ParseRecordFile(std::span<const uint8_t> bytes);
// Reads (at most max_bytes of) `path` and parses it.
Result<RecordFileContents> ReadRecordFile(const std::string& path, size_t max_bytes = 1u << 30);

}  // namespace profkit::sampling
