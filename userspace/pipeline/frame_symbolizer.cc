#include "profkit/pipeline/frame_symbolizer.h"

#include <fmt/format.h>

#include <thread>

#include "profkit/common/file_util.h"

namespace profkit::pipeline {
namespace {

SymbolizedFrame Unnamed(std::string name) {
  SymbolizedFrame frame;
  frame.lines.push_back(profile::PprofLine{.function_name = std::move(name)});
  return frame;
}

}  // namespace

FrameSymbolizer::FrameSymbolizer(symbolize::NativeSymbolizer& native,
                                 std::unique_ptr<symbolize::KernelSymbolizer> kernel,
                                 const python::FunctionTable* python_functions,
                                 size_t max_cached_frames)
    : native_(native),
      kernel_(std::move(kernel)),
      python_functions_(python_functions),
      max_cached_frames_(max_cached_frames) {}

const SymbolizedFrame& FrameSymbolizer::Symbolize(const profile::Frame& frame) {
  if (debug_delay_.count() > 0) std::this_thread::sleep_for(debug_delay_);
  if (const uint64_t generation = native_.names_generation(); generation != names_generation_) {
    names_generation_ = generation;
    cache_.clear();
  }
  auto it = cache_.find(frame);
  if (it != cache_.end()) return it->second;
  // Cheaper than LRU bookkeeping on every lookup, and a full cache means the working set changed.
  if (cache_.size() >= max_cached_frames_) cache_.clear();
  return cache_.emplace(frame, SymbolizeUncached(frame)).first->second;
}

SymbolizedFrame FrameSymbolizer::SymbolizeUncached(const profile::Frame& frame) {
  const uint64_t lookup =
      frame.is_return_address && frame.address > 0 ? frame.address - 1 : frame.address;
  switch (frame.kind) {
    case profile::FrameKind::kKernel: {
      std::optional<std::string> name = kernel_ ? kernel_->Symbolize(lookup) : std::nullopt;
      if (!name) return Unnamed(fmt::format("[kernel]+0x{:x}", frame.address));
      SymbolizedFrame out = Unnamed(std::move(*name));
      out.symbol_found = true;
      return out;
    }
    case profile::FrameKind::kNative: {
      const symbolize::ModuleInfo* module =
          frame.module_id == profile::kUnknownModule ? nullptr : native_.Module(frame.module_id);
      if (module == nullptr) return Unnamed("[unknown]");
      std::vector<symbolize::SymbolizedLine> lines = native_.Symbolize(frame.module_id, lookup);
      if (lines.empty())
        return Unnamed(fmt::format("{}+0x{:x}", PathBasename(module->path), frame.address));
      SymbolizedFrame out;
      out.symbol_found = true;
      for (symbolize::SymbolizedLine& line : lines) {
        out.lines.push_back(profile::PprofLine{.function_name = std::move(line.function),
                                               .system_name = std::move(line.system_name),
                                               .filename = std::move(line.file),
                                               .start_line = line.start_line,
                                               .line = line.line});
      }
      return out;
    }
    case profile::FrameKind::kPython: {
      if (python_functions_ == nullptr) return Unnamed("<unknown python frame>");
      const python::PythonFunction& function = python_functions_->Get(frame.module_id);
      SymbolizedFrame out;
      out.symbol_found = frame.module_id != python::FunctionTable::kUnknownFunction;
      out.lines.push_back(profile::PprofLine{.function_name = function.name,
                                             .filename = function.filename,
                                             .start_line = function.first_line,
                                             .line = static_cast<int64_t>(frame.address)});
      return out;
    }
  }
  return Unnamed("[unknown]");
}

std::vector<std::string> FrameSymbolizer::CollapsedNames(const profile::Frame& frame) {
  const SymbolizedFrame& symbolized = Symbolize(frame);
  std::vector<std::string> names;
  names.reserve(symbolized.lines.size());
  for (const profile::PprofLine& line : symbolized.lines) {
    names.push_back(frame.kind == profile::FrameKind::kKernel ? line.function_name + "_[k]"
                                                              : line.function_name);
  }
  return names;
}

}  // namespace profkit::pipeline
