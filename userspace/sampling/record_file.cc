#include "profkit/sampling/record_file.h"

#include <cerrno>
#include <cstring>

#include "profkit/common/file_util.h"

namespace profkit::sampling {
namespace {

constexpr uint32_t kMagic = 0x46524b50;  // "PKRF" read as a little-endian u32
constexpr size_t kFileHeaderBytes = 8;
constexpr size_t kFrameHeaderBytes = 8;
constexpr uint8_t kKindRecord = 1;
constexpr uint8_t kKindProcess = 2;

enum Field : uint8_t { kMaps = 1, kStat, kEnviron, kExe, kCmdline };

void PutU32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint32_t GetU32(std::span<const uint8_t> bytes, size_t at) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{bytes[at + i]} << (8 * i);
  return value;
}

// kind | 3 zero bytes | length
void PutFrameHeader(std::string& out, uint8_t kind, size_t length) {
  out.push_back(static_cast<char>(kind));
  out.append(3, '\0');
  PutU32(out, static_cast<uint32_t>(length));
}

std::optional<std::string>* FieldOf(ProcessSnapshot& process, uint8_t field) {
  switch (field) {
    case kMaps:
      return &process.maps;
    case kStat:
      return &process.stat;
    case kEnviron:
      return &process.environ;
    case kExe:
      return &process.exe;
    case kCmdline:
      return &process.cmdline;
    default:
      return nullptr;
  }
}

std::string EncodeProcess(const ProcessSnapshot& process) {
  std::string out;
  PutU32(out, process.pid);
  ProcessSnapshot copy = process;
  for (uint8_t field = kMaps; field <= kCmdline; ++field) {
    const std::optional<std::string>& value = *FieldOf(copy, field);
    if (!value) continue;
    PutFrameHeader(out, field, value->size());
    out += *value;
  }
  return out;
}

Result<ProcessSnapshot> DecodeProcess(std::span<const uint8_t> payload) {
  if (payload.size() < 4) return Status::InvalidInput("process frame shorter than its pid");
  ProcessSnapshot process{.pid = GetU32(payload, 0)};
  size_t at = 4;
  while (at < payload.size()) {
    if (payload.size() - at < kFrameHeaderBytes) {
      return Status::InvalidInputf("process {}: field header cut at byte {}", process.pid, at);
    }
    const uint8_t field = payload[at];
    const uint32_t length = GetU32(payload, at + 4);
    at += kFrameHeaderBytes;
    std::optional<std::string>* slot = FieldOf(process, field);
    if (slot == nullptr)
      return Status::InvalidInputf("process {}: unknown field {}", process.pid, field);
    if (length > payload.size() - at) {
      return Status::InvalidInputf("process {}: field {} length {} exceeds the frame", process.pid,
                                   field, length);
    }
    *slot = std::string(reinterpret_cast<const char*>(payload.data() + at), length);
    at += length;
  }
  return process;
}

}  // namespace

Result<std::unique_ptr<RecordFileWriter>> RecordFileWriter::Create(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "wbe");
  if (file == nullptr) return Status::FromErrno(fmt::format("creating {}", path), errno);
  std::unique_ptr<RecordFileWriter> writer(new RecordFileWriter(file, path));
  std::string header;
  PutU32(header, kMagic);
  PutU32(header, kRecordFileVersion);
  if (std::fwrite(header.data(), 1, header.size(), file) != header.size()) {
    return Status::FromErrno(fmt::format("writing {}", path), errno);
  }
  return writer;
}

RecordFileWriter::~RecordFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Status RecordFileWriter::AppendFrame(uint8_t kind, std::span<const uint8_t> payload) {
  if (file_ == nullptr) return Status::Internalf("{} is closed", path_);
  std::string header;
  PutFrameHeader(header, kind, payload.size());
  if (std::fwrite(header.data(), 1, header.size(), file_) != header.size() ||
      std::fwrite(payload.data(), 1, payload.size(), file_) != payload.size()) {
    return Status::FromErrno(fmt::format("writing {}", path_), errno);
  }
  return Status::Ok();
}

Status RecordFileWriter::AppendRecord(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxRingRecordBytes) {
    return Status::TooLargef("a ring-buffer record of {} bytes exceeds {}", bytes.size(),
                             kMaxRingRecordBytes);
  }
  return AppendFrame(kKindRecord, bytes);
}

Status RecordFileWriter::AppendProcess(const ProcessSnapshot& process) {
  const std::string payload = EncodeProcess(process);
  if (payload.size() > kMaxRecordFrameBytes) {
    return Status::TooLargef("the /proc facts of process {} ({} bytes) exceed {}", process.pid,
                             payload.size(), kMaxRecordFrameBytes);
  }
  return AppendFrame(kKindProcess,
                     std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
}

Status RecordFileWriter::Close() {
  std::FILE* file = std::exchange(file_, nullptr);
  if (file == nullptr) return Status::Ok();
  const bool flushed = std::fflush(file) == 0;
  const int err = errno;
  if (std::fclose(file) != 0 || !flushed) {
    return Status::FromErrno(fmt::format("closing {}", path_), flushed ? errno : err);
  }
  return Status::Ok();
}

Result<RecordFileContents> ParseRecordFile(std::span<const uint8_t> bytes) {
  if (bytes.size() < kFileHeaderBytes || GetU32(bytes, 0) != kMagic) {
    return Status::InvalidInput("not a profkit record file (no PKRF magic)");
  }
  if (const uint32_t version = GetU32(bytes, 4); version != kRecordFileVersion) {
    return Status::InvalidInputf("record file version {} is not the supported {}", version,
                                 kRecordFileVersion);
  }
  RecordFileContents contents;
  size_t at = kFileHeaderBytes;
  while (at < bytes.size()) {
    if (bytes.size() - at < kFrameHeaderBytes) break;
    const uint8_t kind = bytes[at];
    const uint32_t length = GetU32(bytes, at + 4);
    const size_t limit = kind == kKindRecord ? kMaxRingRecordBytes : kMaxRecordFrameBytes;
    if (length > limit) {
      return Status::InvalidInputf("frame at byte {}: length {} exceeds {}", at, length, limit);
    }
    if (length > bytes.size() - at - kFrameHeaderBytes) break;
    const std::span payload = bytes.subspan(at + kFrameHeaderBytes, length);
    if (kind == kKindRecord) {
      contents.records.emplace_back(payload.begin(), payload.end());
    } else if (kind == kKindProcess) {
      Result<ProcessSnapshot> process = DecodeProcess(payload);
      if (!process.ok()) return process.status().WithContext(fmt::format("frame at byte {}", at));
      const uint32_t pid = process->pid;
      contents.processes.insert_or_assign(pid, std::move(process).value());
    } else {
      return Status::InvalidInputf("frame at byte {}: unknown kind {}", at, kind);
    }
    at += kFrameHeaderBytes + length;
  }
  contents.truncated = at < bytes.size();
  return contents;
}

Result<RecordFileContents> ReadRecordFile(const std::string& path, size_t max_bytes) {
  PROFKIT_ASSIGN_OR_RETURN(const std::string data, ReadFileBounded(path, max_bytes));
  Result<RecordFileContents> contents =
      ParseRecordFile(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  if (!contents.ok()) return contents.status().WithContext(path);
  return contents;
}

}  // namespace profkit::sampling
