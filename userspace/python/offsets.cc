#include "profkit/python/offsets.h"

#include <charconv>
#include <cstring>

#include "profkit/common/file_util.h"

namespace profkit::python {
namespace {

// Tables measured from each version's own headers (tests/unit/python/ verifies them against
// every installed interpreter). Pyroscope's DWARF tables show no patch-release variation of these
// fields within a minor version (docs/cpython-internals.md §2).
constexpr CPythonOffsets kPython38{
    .version = {.major = 3, .minor = 8},
    .runtime = {.interpreters_head = 32, .tss_is_initialized = 1392, .tss_key = 1396},
    .interpreter = {.threads_head = 8},
    .thread_state = {.next = 8, .interp = 16, .frame = 24, .thread_id = 176, .size = 264},
    .frame_object = {.f_back = 24, .f_code = 32, .f_lasti = 104},
    .code_object = {.argcount = 16,
                    .kwonlyargcount = 24,
                    .flags = 36,
                    .firstlineno = 40,
                    .filename = 104,
                    .name = 112,
                    .lnotab = 120,
                    .code = 48,
                    .size = 176},
    .object = {.ob_type = 8},
    .unicode = {.length = 16, .state = 32, .ascii_data = 48, .compact_data = 72},
    .bytes = {.ob_size = 16, .ob_sval = 32},
};

constexpr CPythonOffsets kPython39{
    .version = {.major = 3, .minor = 9},
    .runtime = {.interpreters_head = 32, .tss_is_initialized = 584, .tss_key = 588},
    .interpreter = {.threads_head = 8},
    .thread_state = {.next = 8, .interp = 16, .frame = 24, .thread_id = 176, .size = 264},
    .frame_object = {.f_back = 24, .f_code = 32, .f_lasti = 104},
    .code_object = {.argcount = 16,
                    .kwonlyargcount = 24,
                    .flags = 36,
                    .firstlineno = 40,
                    .filename = 104,
                    .name = 112,
                    .lnotab = 120,
                    .code = 48,
                    .size = 176},
    .object = {.ob_type = 8},
    .unicode = {.length = 16, .state = 32, .ascii_data = 48, .compact_data = 72},
    .bytes = {.ob_size = 16, .ob_sval = 32},
};

constexpr CPythonOffsets kPython310{
    .version = {.major = 3, .minor = 10},
    .runtime = {.interpreters_head = 32, .tss_is_initialized = 584, .tss_key = 588},
    .interpreter = {.threads_head = 8},
    .thread_state = {.next = 8, .interp = 16, .frame = 24, .thread_id = 176, .size = 280},
    .frame_object = {.f_back = 24, .f_code = 32, .f_lasti = 96},
    .code_object = {.argcount = 16,
                    .kwonlyargcount = 24,
                    .flags = 36,
                    .firstlineno = 40,
                    .filename = 104,
                    .name = 112,
                    .linetable = 120,
                    .code = 48,
                    .size = 176},
    .object = {.ob_type = 8},
    .unicode = {.length = 16, .state = 32, .ascii_data = 48, .compact_data = 72},
    .bytes = {.ob_size = 16, .ob_sval = 32},
};

constexpr CPythonOffsets kPython311{
    .version = {.major = 3, .minor = 11},
    .runtime = {.interpreters_head = 40, .tss_is_initialized = 592, .tss_key = 596},
    .interpreter = {.threads_head = 16},
    .thread_state = {.next = 8,
                     .interp = 16,
                     .cframe = 56,
                     .thread_id = 152,
                     .native_thread_id = 160,
                     .size = 360},
    .cframe = {.current_frame = 8},
    .interpreter_frame =
        {.code = 32, .previous = 48, .instr_ptr = 56, .owner = 69, .is_entry = 68, .size = 80},
    .code_object = {.argcount = 56,
                    .kwonlyargcount = 64,
                    .flags = 48,
                    .firstlineno = 72,
                    .filename = 112,
                    .name = 120,
                    .qualname = 128,
                    .linetable = 136,
                    .code_adaptive = 184,
                    .size = 192},
    .object = {.ob_type = 8},
    .unicode = {.length = 16, .state = 32, .ascii_data = 48, .compact_data = 72},
    .bytes = {.ob_size = 16, .ob_sval = 32},
};

constexpr CPythonOffsets kPython312{
    .version = {.major = 3, .minor = 12},
    .runtime = {.interpreters_head = 40, .tss_is_initialized = 1544, .tss_key = 1548},
    .interpreter = {.threads_head = 72},
    .thread_state = {.next = 8,
                     .interp = 16,
                     .cframe = 56,
                     .thread_id = 136,
                     .native_thread_id = 144,
                     .size = 288},
    .cframe = {.current_frame = 0},
    .interpreter_frame = {.code = 0, .previous = 8, .instr_ptr = 56, .owner = 70, .size = 80},
    .code_object = {.argcount = 52,
                    .kwonlyargcount = 60,
                    .flags = 48,
                    .firstlineno = 68,
                    .filename = 112,
                    .name = 120,
                    .qualname = 128,
                    .linetable = 136,
                    .code_adaptive = 192,
                    .size = 200},
    .object = {.ob_type = 8},
    .unicode = {.length = 16, .state = 32, .ascii_data = 40, .compact_data = 56},
    .bytes = {.ob_size = 16, .ob_sval = 32},
};

// --- _Py_DebugOffsets ---------------------------------------------------------------------------

constexpr char kDebugCookie[] = "xdebugpy";
constexpr size_t kDebugCookieSize = 8;

// Offsets of fields we use are small (the largest known, interpreter_state.threads_head, is 7344 in
// 3.13); anything at or above this is corruption, not a layout.
constexpr uint64_t kMaxFieldOffset = 64 * 1024;
// Struct sizes: _PyRuntimeState and PyInterpreterState are ~280 KiB and ~190 KiB in 3.13.
constexpr uint64_t kMaxStructSize = 4 * 1024 * 1024;

// PY_VERSION_HEX release levels.
constexpr uint32_t kLevelAlpha = 0xA;
constexpr uint32_t kLevelBeta = 0xB;
constexpr uint32_t kLevelCandidate = 0xC;
constexpr uint32_t kLevelFinal = 0xF;

// Byte positions of the uint64_t fields of _Py_DebugOffsets in the 3.13 layout (docs/cpython-internals.md §3).
// The struct grows in the middle between minor versions, so each minor needs its own layout.
struct DebugLayout313 {
  static constexpr size_t kVersion = 8;
  static constexpr size_t kFreeThreaded = 16;
  static constexpr size_t kRuntimeSize = 24;
  static constexpr size_t kRuntimeInterpretersHead = 40;
  static constexpr size_t kInterpSize = 48;
  static constexpr size_t kInterpThreadsHead = 72;
  static constexpr size_t kThreadSize = 152;
  static constexpr size_t kThreadNext = 168;
  static constexpr size_t kThreadInterp = 176;
  static constexpr size_t kThreadCurrentFrame = 184;
  static constexpr size_t kThreadThreadId = 192;
  static constexpr size_t kThreadNativeThreadId = 200;
  static constexpr size_t kFrameSize = 224;
  static constexpr size_t kFramePrevious = 232;
  static constexpr size_t kFrameExecutable = 240;
  static constexpr size_t kFrameInstrPtr = 248;
  static constexpr size_t kFrameOwner = 264;
  static constexpr size_t kCodeSize = 272;
  static constexpr size_t kCodeFilename = 280;
  static constexpr size_t kCodeName = 288;
  static constexpr size_t kCodeQualname = 296;
  static constexpr size_t kCodeLinetable = 304;
  static constexpr size_t kCodeFirstlineno = 312;
  static constexpr size_t kCodeArgcount = 320;
  static constexpr size_t kCodeAdaptive = 344;
  static constexpr size_t kObjectSize = 352;
  static constexpr size_t kObjectObType = 360;
  static constexpr size_t kBytesSize = 512;
  static constexpr size_t kBytesObSize = 520;
  static constexpr size_t kBytesObSval = 528;
  static constexpr size_t kUnicodeSize = 536;
  static constexpr size_t kUnicodeState = 544;
  static constexpr size_t kUnicodeLength = 552;
  static constexpr size_t kUnicodeAsciiSize = 560;
  // gc.collecting at 576 is the last field.
  static constexpr size_t kTotalSize = 584;

  // Not in _Py_DebugOffsets; measured from the 3.13 headers and verified by the offsets test.
  static constexpr uint32_t kTssIsInitialized = 2160;
  static constexpr uint32_t kTssKey = 2164;
  static constexpr uint32_t kCodeKwonlyargcount = 60;
  static constexpr uint32_t kCodeFlags = 48;
  static constexpr uint32_t kUnicodeCompactSize = 56;
};

class DebugReader {
 public:
  explicit DebugReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  // The caller has checked the total size, so every position is in range.
  uint64_t U64(size_t position) const {
    uint64_t value;
    // Same host as the target: its byte order is ours.
    std::memcpy(&value, bytes_.data() + position, sizeof(value));
    return value;
  }

  Result<uint32_t> Size(size_t position, std::string_view name) const {
    const uint64_t value = U64(position);
    if (value == 0 || value > kMaxStructSize) {
      return Status::InvalidInputf("{}: size {} out of range (1..{})", name, value, kMaxStructSize);
    }
    return static_cast<uint32_t>(value);
  }

  // An offset of a field `width` bytes wide inside a struct of `struct_size` bytes.
  Result<uint32_t> Offset(size_t position, std::string_view name, uint32_t struct_size,
                          uint32_t width) const {
    return CheckOffset(U64(position), name, struct_size, width);
  }

  static Result<uint32_t> CheckOffset(uint64_t value, std::string_view name, uint32_t struct_size,
                                      uint32_t width) {
    if (value >= kMaxFieldOffset) {
      return Status::InvalidInputf("{}: offset {} out of range (< {})", name, value,
                                   kMaxFieldOffset);
    }
    if (value + width > struct_size) {
      return Status::InvalidInputf("{}: offset {} + {} bytes beyond struct size {}", name, value,
                                   width, struct_size);
    }
    return static_cast<uint32_t>(value);
  }

 private:
  std::span<const uint8_t> bytes_;
};

constexpr uint32_t kPointer = 8;
constexpr uint32_t kInt = 4;
constexpr uint32_t kSsize = 8;

Result<CPythonOffsets> ParseLayout313(const DebugReader& r, PythonVersion version) {
  using L = DebugLayout313;
  CPythonOffsets o;
  o.version = version;

  PROFKIT_ASSIGN_OR_RETURN(const uint32_t runtime_size,
                           r.Size(L::kRuntimeSize, "runtime_state.size"));
  PROFKIT_ASSIGN_OR_RETURN(o.runtime.interpreters_head,
                           r.Offset(L::kRuntimeInterpretersHead, "runtime_state.interpreters_head",
                                    runtime_size, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(
      o.runtime.tss_is_initialized,
      DebugReader::CheckOffset(L::kTssIsInitialized, "runtime autoTSSkey", runtime_size, kInt));
  PROFKIT_ASSIGN_OR_RETURN(
      o.runtime.tss_key,
      DebugReader::CheckOffset(L::kTssKey, "runtime autoTSSkey._key", runtime_size, kInt));

  PROFKIT_ASSIGN_OR_RETURN(const uint32_t interp_size,
                           r.Size(L::kInterpSize, "interpreter_state.size"));
  PROFKIT_ASSIGN_OR_RETURN(
      o.interpreter.threads_head,
      r.Offset(L::kInterpThreadsHead, "interpreter_state.threads_head", interp_size, kPointer));

  PROFKIT_ASSIGN_OR_RETURN(o.thread_state.size, r.Size(L::kThreadSize, "thread_state.size"));
  const uint32_t ts = o.thread_state.size;
  PROFKIT_ASSIGN_OR_RETURN(o.thread_state.next,
                           r.Offset(L::kThreadNext, "thread_state.next", ts, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(o.thread_state.interp,
                           r.Offset(L::kThreadInterp, "thread_state.interp", ts, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(
      o.thread_state.current_frame,
      r.Offset(L::kThreadCurrentFrame, "thread_state.current_frame", ts, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(o.thread_state.thread_id,
                           r.Offset(L::kThreadThreadId, "thread_state.thread_id", ts, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(
      o.thread_state.native_thread_id,
      r.Offset(L::kThreadNativeThreadId, "thread_state.native_thread_id", ts, kPointer));

  PROFKIT_ASSIGN_OR_RETURN(o.interpreter_frame.size,
                           r.Size(L::kFrameSize, "interpreter_frame.size"));
  const uint32_t fs = o.interpreter_frame.size;
  PROFKIT_ASSIGN_OR_RETURN(
      o.interpreter_frame.code,
      r.Offset(L::kFrameExecutable, "interpreter_frame.executable", fs, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(o.interpreter_frame.previous,
                           r.Offset(L::kFramePrevious, "interpreter_frame.previous", fs, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(
      o.interpreter_frame.instr_ptr,
      r.Offset(L::kFrameInstrPtr, "interpreter_frame.instr_ptr", fs, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(o.interpreter_frame.owner,
                           r.Offset(L::kFrameOwner, "interpreter_frame.owner", fs, 1));

  PROFKIT_ASSIGN_OR_RETURN(o.code_object.size, r.Size(L::kCodeSize, "code_object.size"));
  const uint32_t cs = o.code_object.size;
  PROFKIT_ASSIGN_OR_RETURN(o.code_object.argcount,
                           r.Offset(L::kCodeArgcount, "code_object.argcount", cs, kInt));
  PROFKIT_ASSIGN_OR_RETURN(
      o.code_object.kwonlyargcount,
      DebugReader::CheckOffset(L::kCodeKwonlyargcount, "code_object.kwonlyargcount", cs, kInt));
  PROFKIT_ASSIGN_OR_RETURN(o.code_object.flags,
                           DebugReader::CheckOffset(L::kCodeFlags, "code_object.flags", cs, kInt));
  PROFKIT_ASSIGN_OR_RETURN(o.code_object.firstlineno,
                           r.Offset(L::kCodeFirstlineno, "code_object.firstlineno", cs, kInt));
  PROFKIT_ASSIGN_OR_RETURN(o.code_object.filename,
                           r.Offset(L::kCodeFilename, "code_object.filename", cs, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(o.code_object.name,
                           r.Offset(L::kCodeName, "code_object.name", cs, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(o.code_object.qualname,
                           r.Offset(L::kCodeQualname, "code_object.qualname", cs, kPointer));
  PROFKIT_ASSIGN_OR_RETURN(o.code_object.linetable,
                           r.Offset(L::kCodeLinetable, "code_object.linetable", cs, kPointer));
  // The inline bytecode starts inside the struct (a one-element trailing array).
  PROFKIT_ASSIGN_OR_RETURN(o.code_object.code_adaptive,
                           r.Offset(L::kCodeAdaptive, "code_object.co_code_adaptive", cs, 2));

  PROFKIT_ASSIGN_OR_RETURN(const uint32_t object_size, r.Size(L::kObjectSize, "pyobject.size"));
  PROFKIT_ASSIGN_OR_RETURN(o.object.ob_type,
                           r.Offset(L::kObjectObType, "pyobject.ob_type", object_size, kPointer));

  PROFKIT_ASSIGN_OR_RETURN(const uint32_t bytes_size, r.Size(L::kBytesSize, "bytes_object.size"));
  PROFKIT_ASSIGN_OR_RETURN(o.bytes.ob_size,
                           r.Offset(L::kBytesObSize, "bytes_object.ob_size", bytes_size, kSsize));
  PROFKIT_ASSIGN_OR_RETURN(o.bytes.ob_sval,
                           r.Offset(L::kBytesObSval, "bytes_object.ob_sval", bytes_size, 1));

  PROFKIT_ASSIGN_OR_RETURN(const uint32_t unicode_size,
                           r.Size(L::kUnicodeSize, "unicode_object.size"));
  PROFKIT_ASSIGN_OR_RETURN(
      o.unicode.length, r.Offset(L::kUnicodeLength, "unicode_object.length", unicode_size, kSsize));
  PROFKIT_ASSIGN_OR_RETURN(o.unicode.state,
                           r.Offset(L::kUnicodeState, "unicode_object.state", unicode_size, kInt));
  // Data of a compact string follows its header, so the header sizes are data offsets.
  PROFKIT_ASSIGN_OR_RETURN(
      o.unicode.ascii_data,
      r.Offset(L::kUnicodeAsciiSize, "unicode_object.asciiobject_size", unicode_size, 0));
  PROFKIT_ASSIGN_OR_RETURN(
      o.unicode.compact_data,
      DebugReader::CheckOffset(L::kUnicodeCompactSize, "unicode compact object size", unicode_size,
                               0));
  return o;
}

// A version component: 1–4 decimal digits (more means garbage, not a version).
std::optional<int> ParseSmallNumber(std::string_view text) {
  constexpr size_t kMaxDigits = 4;
  int value = 0;
  if (text.empty() || text.size() > kMaxDigits) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

size_t DigitPrefix(std::string_view text) {
  size_t n = 0;
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') ++n;
  return n;
}

}  // namespace

std::optional<CPythonOffsets> BuiltinOffsets(int major, int minor) {
  if (major != 3) return std::nullopt;
  switch (minor) {
    case 8:
      return kPython38;
    case 9:
      return kPython39;
    case 10:
      return kPython310;
    case 11:
      return kPython311;
    case 12:
      return kPython312;
    default:
      return std::nullopt;
  }
}

Result<CPythonOffsets> ParseDebugOffsets(std::span<const uint8_t> bytes) {
  const auto context = [](Status status) { return status.WithContext("_Py_DebugOffsets"); };
  if (bytes.size() < kDebugCookieSize + sizeof(uint64_t)) {
    return context(
        Status::InvalidInputf("{} bytes, too short for cookie and version", bytes.size()));
  }
  if (std::memcmp(bytes.data(), kDebugCookie, kDebugCookieSize) != 0) {
    return context(
        Status::InvalidInput("cookie is not \"xdebugpy\" (not CPython 3.13+ or not _PyRuntime)"));
  }
  const DebugReader reader(bytes);
  const uint64_t raw_version = reader.U64(DebugLayout313::kVersion);
  if (raw_version > UINT32_MAX) {
    return context(Status::InvalidInputf("version {:#x} is not a PY_VERSION_HEX", raw_version));
  }
  auto version = ParsePyVersionHex(static_cast<uint32_t>(raw_version));
  if (!version.ok()) return context(version.status());
  if (version->major != 3 || version->minor != 13) {
    return context(Status::Unsupportedf("no known layout for Python {}.{} (this parser knows 3.13)",
                                        version->major, version->minor));
  }
  // Pre-release builds of 3.13 changed the struct before it was frozen.
  const uint32_t level = (raw_version >> 4) & 0xF;
  if (level != kLevelCandidate && level != kLevelFinal) {
    return context(Status::Unsupportedf("pre-release Python {:#x} is not supported", raw_version));
  }
  if (bytes.size() < DebugLayout313::kTotalSize) {
    return context(Status::InvalidInputf("{} bytes, the 3.13 layout needs {}", bytes.size(),
                                         DebugLayout313::kTotalSize));
  }
  const uint64_t free_threaded = reader.U64(DebugLayout313::kFreeThreaded);
  if (free_threaded != 0) {
    return context(Status::Unsupportedf("free-threaded build (free_threaded={}) is not supported",
                                        free_threaded));
  }
  auto offsets = ParseLayout313(reader, *version);
  if (!offsets.ok()) return context(offsets.status());
  return offsets;
}

Result<PythonVersion> ParsePyVersionHex(uint32_t hex) {
  const int major = static_cast<int>(hex >> 24);
  const int minor = static_cast<int>((hex >> 16) & 0xFF);
  const int micro = static_cast<int>((hex >> 8) & 0xFF);
  const uint32_t level = (hex >> 4) & 0xF;
  if (major != 3) {
    return Status::InvalidInputf("version {:#010x}: major {} is not 3", hex, major);
  }
  if (level != kLevelAlpha && level != kLevelBeta && level != kLevelCandidate &&
      level != kLevelFinal) {
    return Status::InvalidInputf("version {:#010x}: release level {:#x} is not a/b/rc/final", hex,
                                 level);
  }
  return PythonVersion{.major = major, .minor = minor, .micro = micro};
}

Result<PythonVersion> ParsePyVersionBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != sizeof(uint32_t)) {
    return Status::InvalidInputf("Py_Version: {} bytes, expected 4", bytes.size());
  }
  uint32_t hex;
  std::memcpy(&hex, bytes.data(), sizeof(hex));  // same host as the target: same byte order
  auto version = ParsePyVersionHex(hex);
  if (!version.ok()) return version.status().WithContext("Py_Version");
  return version;
}

Result<PythonVersion> ParsePyVersionString(std::string_view text) {
  const auto fail = [text] { return Status::InvalidInputf("bad PY_VERSION '{}'", text); };
  std::string_view rest = text;
  int parts[3] = {};  // major, minor, micro
  for (size_t i = 0; i < 3; ++i) {
    const size_t digits = DigitPrefix(rest);
    const std::optional<int> number = ParseSmallNumber(rest.substr(0, digits));
    if (!number) return fail();
    parts[i] = *number;
    rest.remove_prefix(digits);
    if (i < 2) {
      if (rest.empty() || rest.front() != '.') return fail();
      rest.remove_prefix(1);
    }
  }
  // Suffixes: "+" (built from a source tree after a release) or a pre-release tag "a1", "b2",
  // "rc1".
  if (rest == "+") rest = {};
  for (std::string_view tag : {"rc", "a", "b"}) {
    if (rest.starts_with(tag)) {
      rest.remove_prefix(tag.size());
      const size_t digits = DigitPrefix(rest);
      if (digits == 0) return fail();
      rest.remove_prefix(digits);
      if (rest == "+") rest = {};
      break;
    }
  }
  if (!rest.empty() || parts[0] != 3) return fail();
  return PythonVersion{.major = parts[0], .minor = parts[1], .micro = parts[2]};
}

Result<PythonVersion> ParsePythonFileName(std::string_view path) {
  const auto fail = [path] {
    return Status::InvalidInputf("'{}' is not a python3.X executable or libpython3.X library name",
                                 path);
  };
  std::string_view name = PathBasename(path);
  if (name.starts_with("lib")) name.remove_prefix(3);
  constexpr std::string_view kPrefix = "python3.";
  if (!name.starts_with(kPrefix)) return fail();
  name.remove_prefix(kPrefix.size());
  const size_t digits = DigitPrefix(name);
  const std::optional<int> minor = ParseSmallNumber(name.substr(0, digits));
  if (!minor) return fail();
  name.remove_prefix(digits);
  // ABI flags (d debug, m pymalloc ≤ 3.7, u wide unicode, t free-threaded), then ".so…" or end.
  while (!name.empty() && std::string_view("dmut").find(name.front()) != std::string_view::npos) {
    name.remove_prefix(1);
  }
  if (!name.empty() && name.front() != '.') return fail();
  return PythonVersion{.major = 3, .minor = *minor};
}

}  // namespace profkit::python
