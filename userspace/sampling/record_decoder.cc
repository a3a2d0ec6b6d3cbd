#include <cstring>

#include "profkit/bpf_abi.h"
#include "profkit/sampling/record.h"

namespace profkit::sampling {
namespace {

// Ring-buffer data is 8-byte aligned, but a span from elsewhere (tests, replay) need not be:
// copy instead of casting.
template <typename T>
T Load(std::span<const uint8_t> bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

std::vector<uint64_t> LoadIps(std::span<const uint8_t> bytes, size_t offset, size_t count) {
  std::vector<uint64_t> ips(count);
  // memcpy from/to a null data() is undefined even for zero bytes.
  if (count > 0) std::memcpy(ips.data(), bytes.data() + offset, count * sizeof(uint64_t));
  return ips;
}

// The kernel's comm is NUL-terminated unless the name fills all 16 bytes.
std::string CommFrom(const char (&comm)[PROFKIT_COMM_LEN]) {
  return std::string(comm, strnlen(comm, PROFKIT_COMM_LEN));
}

PythonWalkStatus PythonStatusFrom(uint16_t status) {
  switch (status) {
    case PROFKIT_PYTHON_OK:
      return PythonWalkStatus::kOk;
    case PROFKIT_PYTHON_NO_KEY:
      return PythonWalkStatus::kNoKey;
    case PROFKIT_PYTHON_NO_THREAD_STATE:
      return PythonWalkStatus::kNoThreadState;
    default:
      return PythonWalkStatus::kReadError;
  }
}

// A CPU sample stands for no switch; an off-CPU record for at least one.
Status CheckOffCpuEvents(const profkit_sample_header& header) {
  if (header.kind == PROFKIT_EVENT_SAMPLE && header.off_cpu_events != 0) {
    return Status::InvalidInputf("CPU sample record has off_cpu_events {}, expected 0",
                                 header.off_cpu_events);
  }
  if (header.kind == PROFKIT_EVENT_OFF_CPU && header.off_cpu_events == 0) {
    return Status::InvalidInput("off-CPU record has off_cpu_events 0 (it stands for no switch)");
  }
  return Status::Ok();
}

Result<Record> DecodeSample(std::span<const uint8_t> bytes) {
  constexpr size_t kHeaderSize = sizeof(profkit_sample_header);
  if (bytes.size() < kHeaderSize) {
    return Status::InvalidInputf("sample record of {} bytes is shorter than its {}-byte header",
                                 bytes.size(), kHeaderSize);
  }
  const auto header = Load<profkit_sample_header>(bytes, 0);
  if (header.kernel_depth > PROFKIT_MAX_STACK_DEPTH ||
      header.user_depth > PROFKIT_MAX_USER_STACK_DEPTH) {
    return Status::TooLargef(
        "sample record stack depths kernel={} user={} exceed the limits of {} and {}",
        header.kernel_depth, header.user_depth, PROFKIT_MAX_STACK_DEPTH,
        PROFKIT_MAX_USER_STACK_DEPTH);
  }
  if ((header.flags & ~PROFKIT_SAMPLE_KNOWN_FLAGS) != 0) {
    return Status::InvalidInputf("sample record has unknown flags {:#x}", header.flags);
  }
  if (header.python_depth > PROFKIT_MAX_PYTHON_FRAMES) {
    return Status::TooLargef("sample record python depth {} exceeds the limit of {}",
                             header.python_depth, PROFKIT_MAX_PYTHON_FRAMES);
  }
  PROFKIT_RETURN_IF_ERROR(CheckOffCpuEvents(header));
  const bool python = header.flags & PROFKIT_SAMPLE_PYTHON;
  if (python && header.python_status >= PROFKIT_PYTHON_STATUS_COUNT) {
    return Status::InvalidInputf("sample record has unknown python status {}",
                                 header.python_status);
  }
  if (!python && header.python_depth != 0) {
    return Status::InvalidInputf("sample record has {} python frames but no python flag",
                                 header.python_depth);
  }
  const size_t ip_count = size_t{header.kernel_depth} + header.user_depth;
  const size_t ips_end = kHeaderSize + ip_count * sizeof(uint64_t);
  const size_t expected = ips_end + size_t{header.python_depth} * sizeof(profkit_python_frame);
  if (bytes.size() != expected) {
    return Status::InvalidInputf(
        "sample record has {} bytes but its header announces {} (kernel_depth={} user_depth={} "
        "python_depth={})",
        bytes.size(), expected, header.kernel_depth, header.user_depth, header.python_depth);
  }

  SampleRecord sample;
  sample.pid = header.pid;
  sample.tid = header.tid;
  sample.cpu = header.cpu;
  sample.ktime_ns = header.ktime_ns;
  sample.comm = CommFrom(header.comm);
  sample.off_cpu = header.kind == PROFKIT_EVENT_OFF_CPU;
  sample.off_cpu_events = header.off_cpu_events;
  sample.kernel_ips = LoadIps(bytes, kHeaderSize, header.kernel_depth);
  sample.user_ips =
      LoadIps(bytes, kHeaderSize + header.kernel_depth * sizeof(uint64_t), header.user_depth);
  sample.kernel_stack_error = header.flags & PROFKIT_SAMPLE_KERNEL_STACK_ERROR;
  sample.user_stack_error = header.flags & PROFKIT_SAMPLE_USER_STACK_ERROR;
  sample.kernel_stack_truncated = header.flags & PROFKIT_SAMPLE_KERNEL_STACK_TRUNCATED;
  sample.user_stack_truncated = header.flags & PROFKIT_SAMPLE_USER_STACK_TRUNCATED;
  sample.user_stack_unwound = header.flags & PROFKIT_SAMPLE_USER_STACK_UNWOUND;
  if (header.flags & PROFKIT_SAMPLE_USER_STACK_TOP_VALID) {
    sample.user_stack_top.assign(std::begin(header.user_stack_top),
                                 std::end(header.user_stack_top));
  }
  if (python) {
    sample.python_status = PythonStatusFrom(header.python_status);
    sample.python_stack_truncated = header.flags & PROFKIT_SAMPLE_PYTHON_TRUNCATED;
    sample.python_frames.reserve(header.python_depth);
    for (size_t i = 0; i < header.python_depth; ++i) {
      const auto frame =
          Load<profkit_python_frame>(bytes, ips_end + i * sizeof(profkit_python_frame));
      sample.python_frames.push_back(
          PythonFrameRecord{.code_object = frame.code_object,
                            .instruction = frame.instruction,
                            .checksum = frame.checksum,
                            .entry = (frame.flags & PROFKIT_PYTHON_FRAME_ENTRY) != 0});
    }
  }
  return Record(std::move(sample));
}

Result<Record> DecodeProcessEvent(std::span<const uint8_t> bytes, ProcessEventRecord::Kind kind) {
  if (bytes.size() != sizeof(profkit_process_event)) {
    return Status::InvalidInputf("process event record has {} bytes, expected {}", bytes.size(),
                                 sizeof(profkit_process_event));
  }
  const auto event = Load<profkit_process_event>(bytes, 0);
  return Record(ProcessEventRecord{
      .kind = kind, .pid = event.pid, .ppid = event.ppid, .comm = CommFrom(event.comm)});
}

Result<Record> DecodeOffCpuEnd(std::span<const uint8_t> bytes) {
  if (bytes.size() != sizeof(profkit_off_cpu_end)) {
    return Status::InvalidInputf("off-CPU end record has {} bytes, expected {}", bytes.size(),
                                 sizeof(profkit_off_cpu_end));
  }
  const auto end = Load<profkit_off_cpu_end>(bytes, 0);
  if (end.off_cpu_events == 0) {
    return Status::InvalidInput(
        "off-CPU end record has off_cpu_events 0 (it stands for no switch)");
  }
  return Record(OffCpuEndRecord{.pid = end.pid,
                                .tid = end.tid,
                                .switch_out_ktime_ns = end.switch_out_ktime_ns,
                                .off_cpu_ns = end.off_cpu_ns,
                                .off_cpu_events = end.off_cpu_events});
}

}  // namespace

Result<Record> DecodeRecord(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof(uint32_t)) {
    return Status::InvalidInputf("record of {} bytes is shorter than its 4-byte kind",
                                 bytes.size());
  }
  const auto kind = Load<uint32_t>(bytes, 0);
  switch (kind) {
    case PROFKIT_EVENT_SAMPLE:
    case PROFKIT_EVENT_OFF_CPU:
      return DecodeSample(bytes);
    case PROFKIT_EVENT_EXEC:
      return DecodeProcessEvent(bytes, ProcessEventRecord::Kind::kExec);
    case PROFKIT_EVENT_FORK:
      return DecodeProcessEvent(bytes, ProcessEventRecord::Kind::kFork);
    case PROFKIT_EVENT_EXIT:
      return DecodeProcessEvent(bytes, ProcessEventRecord::Kind::kExit);
    case PROFKIT_EVENT_OFF_CPU_END:
      return DecodeOffCpuEnd(bytes);
    default:
      return Status::InvalidInputf("record of {} bytes has unknown kind {}", bytes.size(), kind);
  }
}

}  // namespace profkit::sampling
