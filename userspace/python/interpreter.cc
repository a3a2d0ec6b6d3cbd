#include "profkit/python/interpreter.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace profkit::python {
namespace {

// .rodata of libpython is about 300 KiB; an interpreter's is never near this.
constexpr size_t kMaxRodataBytes = 64 << 20;
// _Py_DebugOffsets is 584 bytes in 3.13, 760 in 3.14, 888 in 3.15; read with room for growth.
constexpr size_t kDebugOffsetsReadBytes = 2048;
// PyGILState_GetThisThreadState's TLS access is under 32 bytes; the rest is slack for padding.
constexpr size_t kAccessorReadBytes = 64;

enum SymbolIndex {
  kRuntime,
  kPyVersion,
  kNone,
  kEvalLoop,
  kEvalLoopCold,
  kInitialize,
  kGilstateAccessor,
  kSymbolCount
};
constexpr std::array<std::string_view, kSymbolCount> kSymbolNames = {
    "_PyRuntime",
    "Py_Version",
    "_Py_NoneStruct",
    "_PyEval_EvalFrameDefault",
    "_PyEval_EvalFrameDefault.cold",
    "Py_Initialize",
    "PyGILState_GetThisThreadState"};

// 3.15+: the thread-local gilstate behind the exported accessor (docs/cpython-314-315.md).
Result<ThreadLocalLocation> LocateGilstate(
    symbolize::NativeSymbolizer& symbolizer, uint32_t module_id,
    const std::optional<symbolize::NativeSymbolizer::Symbol>& accessor) {
  if (!accessor) return Status::NotFound("no PyGILState_GetThisThreadState symbol");
  const size_t size = accessor->size > 0 ? std::min<size_t>(accessor->size, kAccessorReadBytes)
                                         : kAccessorReadBytes;
  PROFKIT_ASSIGN_OR_RETURN(std::string code,
                           symbolizer.ReadAtAddress(module_id, accessor->address, size));
  return DecodeThreadLocalAccessor({reinterpret_cast<const uint8_t*>(code.data()), code.size()},
                                   accessor->address);
}

// PY_VERSION ("3.9.18") is a NUL-terminated string in .rodata, on its own or as the tail of a
// longer string the linker merged it into (an install prefix ending in "/3.9.18").
std::optional<PythonVersion> FindVersionString(std::string_view rodata, int minor) {
  const std::string prefix = fmt::format("3.{}.", minor);
  for (size_t pos = rodata.find(prefix); pos != std::string_view::npos;
       pos = rodata.find(prefix, pos + 1)) {
    if (pos > 0 && rodata[pos - 1] != '\0' && rodata[pos - 1] != '/') continue;
    const size_t end = rodata.find('\0', pos);
    if (end == std::string_view::npos) break;
    auto version = ParsePyVersionString(rodata.substr(pos, end - pos));
    if (version.ok() && version->minor == minor) return *version;
  }
  return std::nullopt;
}

Result<PythonVersion> ModuleVersion(
    symbolize::NativeSymbolizer& symbolizer, uint32_t module_id, const std::string& path,
    const std::optional<symbolize::NativeSymbolizer::Symbol>& py_version) {
  if (py_version) {
    PROFKIT_ASSIGN_OR_RETURN(std::string bytes,
                             symbolizer.ReadAtAddress(module_id, py_version->address, 4));
    return ParsePyVersionBytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }
  // Before 3.11 nothing but the name says which version this is.
  PROFKIT_ASSIGN_OR_RETURN(PythonVersion version, ParsePythonFileName(path));
  Result<std::string> rodata = symbolizer.ReadSection(module_id, ".rodata", kMaxRodataBytes);
  if (rodata.ok()) {
    if (auto full = FindVersionString(*rodata, version.minor)) return *full;
  }
  return version;
}

}  // namespace

Result<InterpreterInspection> InspectInterpreterModule(symbolize::NativeSymbolizer& symbolizer,
                                                       uint32_t module_id,
                                                       const std::string& path) {
  PROFKIT_ASSIGN_OR_RETURN(auto symbols, symbolizer.FindSymbols(module_id, kSymbolNames));
  InterpreterInspection inspection;
  if (!symbols[kRuntime]) {
    // CPython before 3.7 has no _PyRuntime; say so rather than silently give native stacks.
    if (symbols[kInitialize]) {
      Result<PythonVersion> old = ParsePythonFileName(path);
      inspection.unsupported_reason =
          old.ok()
              ? fmt::format("CPython {}.{} is not supported (3.8–3.15 are)", old->major, old->minor)
              : std::string("CPython without _PyRuntime (before 3.7) is not supported");
    }
    return inspection;
  }

  Result<PythonVersion> version = ModuleVersion(symbolizer, module_id, path, symbols[kPyVersion]);
  if (!version.ok()) {
    inspection.unsupported_reason =
        fmt::format("CPython of unknown version: {}", version.status().message());
    return inspection;
  }
  InterpreterModule module;
  module.runtime_address = symbols[kRuntime]->address;
  if (auto builtin = BuiltinOffsets(version->major, version->minor)) {
    module.offsets = *builtin;
    module.offsets.version = *version;
  } else if (version->major == 3 && version->minor >= 13) {
    Result<std::string> image =
        symbolizer.ReadAtAddress(module_id, module.runtime_address, kDebugOffsetsReadBytes);
    if (!image.ok()) {
      inspection.unsupported_reason =
          fmt::format("CPython {}.{}: reading _Py_DebugOffsets: {}", version->major, version->minor,
                      image.status().message());
      return inspection;
    }
    Result<CPythonOffsets> parsed =
        ParseDebugOffsets({reinterpret_cast<const uint8_t*>(image->data()), image->size()});
    if (!parsed.ok()) {
      inspection.unsupported_reason = fmt::format("CPython {}.{}: {}", version->major,
                                                  version->minor, parsed.status().message());
      return inspection;
    }
    // A table of another minor than the binary says it is would describe other structs.
    if (parsed->version.major != version->major || parsed->version.minor != version->minor) {
      inspection.unsupported_reason =
          fmt::format("CPython {}.{}: _Py_DebugOffsets: version 3.{} disagrees with the binary's",
                      version->major, version->minor, parsed->version.minor);
      return inspection;
    }
    module.offsets = *parsed;
    if (parsed->thread_state_lookup == ThreadStateLookup::kGilstateThreadLocal) {
      Result<ThreadLocalLocation> location =
          LocateGilstate(symbolizer, module_id, symbols[kGilstateAccessor]);
      if (!location.ok()) {
        inspection.unsupported_reason =
            fmt::format("CPython {}.{}: locating the thread-local gilstate: {}", version->major,
                        version->minor, location.status().message());
        return inspection;
      }
      module.gilstate_location = *location;
    }
  } else {
    inspection.unsupported_reason = fmt::format("CPython {}.{} is not supported (3.8–3.15 are)",
                                                version->major, version->minor);
    return inspection;
  }
  Result<LineTableFormat> format = LineTableFormatForVersion(version->major, version->minor);
  if (!format.ok()) {
    inspection.unsupported_reason = std::string(format.status().message());
    return inspection;
  }
  module.line_table_format = *format;
  if (symbols[kNone] && version->minor >= 13) module.none_address = symbols[kNone]->address;
  for (const int index : {kEvalLoop, kEvalLoopCold}) {
    const auto& symbol = symbols[index];
    if (symbol && symbol->size > 0) {
      module.eval_loop_ranges.emplace_back(symbol->address, symbol->address + symbol->size);
    }
  }
  inspection.interpreter = std::move(module);
  return inspection;
}

namespace {

Status SetThreadStateSource(const InterpreterModule& module, uint64_t load_bias,
                            profkit_python_process& p) {
  const CPythonOffsets& o = module.offsets;
  if (o.thread_state_lookup == ThreadStateLookup::kGilstateTss) {
    p.thread_state_source = PROFKIT_PYTHON_TSTATE_TSS;
    p.tss_address = load_bias + module.runtime_address + o.runtime.tss_is_initialized;
    if (o.runtime.tss_key != o.runtime.tss_is_initialized + 4) {
      return Status::Unsupported("Py_tss_t layout: _key must follow _is_initialized");
    }
    return Status::Ok();
  }
  if (!module.gilstate_location) return Status::NotFound("thread-local gilstate not located");
  const ThreadLocalLocation& location = *module.gilstate_location;
  p.tls_offset = location.offset;
  if (location.model == ThreadLocalLocation::Model::kStaticTls) {
    p.thread_state_source = PROFKIT_PYTHON_TSTATE_STATIC_TLS;
  } else {
    p.thread_state_source = PROFKIT_PYTHON_TSTATE_DYNAMIC_TLS;
    p.tls_index_address = load_bias + location.tls_index_address;
  }
  return Status::Ok();
}

}  // namespace

Result<profkit_python_process> WalkerLayout(const InterpreterModule& module, uint64_t load_bias) {
  const CPythonOffsets& o = module.offsets;
  profkit_python_process p{};
  const auto check = [](uint32_t offset, size_t width, size_t limit, const char* name) -> Status {
    if (offset == kNoOffset || offset + width > limit) {
      return Status::Unsupportedf("offset of {} ({}) does not fit the walker's {}-byte copy", name,
                                  offset == kNoOffset ? -1 : static_cast<int64_t>(offset), limit);
    }
    return Status::Ok();
  };
  PROFKIT_RETURN_IF_ERROR(SetThreadStateSource(module, load_bias, p));
  p.thread_base_frame = PROFKIT_PYTHON_NO_OFFSET;
  p.none_address = module.none_address ? load_bias + *module.none_address : 0;
  p.tsd_first_block = kGlibcTsdFirstBlock;
  p.tsd_second_level = kGlibcTsdSecondLevel;
  constexpr size_t kCode = PROFKIT_PYTHON_CODE_READ_BYTES;
  PROFKIT_RETURN_IF_ERROR(check(o.code_object.argcount, 4, kCode, "co_argcount"));
  PROFKIT_RETURN_IF_ERROR(check(o.code_object.kwonlyargcount, 4, kCode, "co_kwonlyargcount"));
  PROFKIT_RETURN_IF_ERROR(check(o.code_object.flags, 4, kCode, "co_flags"));
  PROFKIT_RETURN_IF_ERROR(check(o.code_object.firstlineno, 4, kCode, "co_firstlineno"));
  p.code_argcount = o.code_object.argcount;
  p.code_kwonlyargcount = o.code_object.kwonlyargcount;
  p.code_flags = o.code_object.flags;
  p.code_firstlineno = o.code_object.firstlineno;

  if (o.thread_state.frame != kNoOffset) {
    p.layout = PROFKIT_PYTHON_LAYOUT_FRAME_OBJECT;
    p.thread_frame = o.thread_state.frame;
    p.cframe_current_frame = PROFKIT_PYTHON_NO_OFFSET;
    p.frame_read_bytes = PROFKIT_PYTHON_FRAME_READ_BYTES;
    PROFKIT_RETURN_IF_ERROR(check(o.frame_object.f_back, 8, p.frame_read_bytes, "f_back"));
    PROFKIT_RETURN_IF_ERROR(check(o.frame_object.f_code, 8, p.frame_read_bytes, "f_code"));
    PROFKIT_RETURN_IF_ERROR(check(o.frame_object.f_lasti, 4, p.frame_read_bytes, "f_lasti"));
    p.frame_previous = o.frame_object.f_back;
    p.frame_code = o.frame_object.f_code;
    p.frame_instruction = o.frame_object.f_lasti;
    p.frame_owner = PROFKIT_PYTHON_NO_OFFSET;
    p.frame_is_entry = PROFKIT_PYTHON_NO_OFFSET;
    p.code_adaptive = 0;
    return p;
  }
  p.layout = PROFKIT_PYTHON_LAYOUT_INTERPRETER_FRAME;
  if (o.thread_state.cframe != kNoOffset) {
    p.thread_frame = o.thread_state.cframe;
    p.cframe_current_frame = o.cframe.current_frame;
  } else if (o.thread_state.current_frame != kNoOffset) {
    p.thread_frame = o.thread_state.current_frame;
    p.cframe_current_frame = PROFKIT_PYTHON_NO_OFFSET;
  } else {
    return Status::Unsupported("thread state has no frame, cframe or current_frame offset");
  }
  const auto& f = o.interpreter_frame;
  // Only the struct itself: a frame at the end of its data-stack chunk may be followed by an
  // unmapped page.
  p.frame_read_bytes =
      static_cast<uint16_t>(std::min<uint32_t>(f.size, PROFKIT_PYTHON_FRAME_READ_BYTES));
  PROFKIT_RETURN_IF_ERROR(check(f.previous, 8, p.frame_read_bytes, "previous"));
  PROFKIT_RETURN_IF_ERROR(check(f.code, 8, p.frame_read_bytes, "f_code/f_executable"));
  PROFKIT_RETURN_IF_ERROR(check(f.instr_ptr, 8, p.frame_read_bytes, "prev_instr/instr_ptr"));
  p.frame_previous = f.previous;
  p.frame_code = f.code;
  p.frame_instruction = f.instr_ptr;
  // 3.11 marks entry frames with is_entry; its owner enum has no C-stack value.
  if (f.is_entry != kNoOffset) {
    PROFKIT_RETURN_IF_ERROR(check(f.is_entry, 1, p.frame_read_bytes, "is_entry"));
    p.frame_is_entry = f.is_entry;
    p.frame_owner = PROFKIT_PYTHON_NO_OFFSET;
  } else {
    PROFKIT_RETURN_IF_ERROR(check(f.owner, 1, p.frame_read_bytes, "owner"));
    p.frame_owner = f.owner;
    p.frame_is_entry = PROFKIT_PYTHON_NO_OFFSET;
  }
  if (o.code_object.code_adaptive == kNoOffset)
    return Status::Unsupported("no co_code_adaptive offset");
  p.code_adaptive = o.code_object.code_adaptive;
  // Tags live in the alignment bits of an object pointer: at most the low 3.
  if (f.code_tag_bits > 7)
    return Status::InvalidInputf("f_executable tag bits {:#x}", f.code_tag_bits);
  p.frame_code_tag_bits = static_cast<uint16_t>(f.code_tag_bits);
  if (o.thread_state.base_frame != kNoOffset) {
    PROFKIT_RETURN_IF_ERROR(check(o.thread_state.base_frame, 8, o.thread_state.size, "base_frame"));
    p.thread_base_frame = static_cast<uint16_t>(o.thread_state.base_frame);
  }
  return p;
}

}  // namespace profkit::python
