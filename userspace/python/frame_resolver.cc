#include "profkit/python/frame_resolver.h"

#include <functional>
#include <string_view>

#include "profkit/common/log.h"

namespace profkit::python {
namespace {

// Instructions of one code object whose line is remembered; a hot function has a few dozen.
constexpr size_t kMaxLinesPerCode = 1024;

const PythonFunction& UnknownFunction() {
  static const PythonFunction unknown{.name = "<unknown python frame>"};
  return unknown;
}

}  // namespace

size_t FunctionTable::Hash::operator()(const PythonFunction& f) const noexcept {
  const std::hash<std::string_view> h;
  return h(f.name) * 31 + h(f.filename) * 17 + static_cast<size_t>(f.first_line);
}

FunctionTable::FunctionTable(size_t max_functions) : max_functions_(max_functions) {
  functions_.push_back(UnknownFunction());
  ids_.emplace(UnknownFunction(), kUnknownFunction);
}

uint32_t FunctionTable::Intern(PythonFunction function) {
  const std::lock_guard lock(mutex_);
  if (auto it = ids_.find(function); it != ids_.end()) return it->second;
  if (functions_.size() >= max_functions_) {
    ++overflows_;
    return kUnknownFunction;
  }
  functions_.push_back(function);
  const auto id = static_cast<uint32_t>(functions_.size());
  ids_.emplace(std::move(function), id);
  return id;
}

const PythonFunction& FunctionTable::Get(uint32_t id) const {
  const std::lock_guard lock(mutex_);
  if (id == 0 || id > functions_.size()) return functions_.front();
  return functions_[id - 1];
}

size_t FunctionTable::size() const {
  const std::lock_guard lock(mutex_);
  return functions_.size();
}

uint64_t FunctionTable::overflows() const {
  const std::lock_guard lock(mutex_);
  return overflows_;
}

CodeObjectCache::CodeObjectCache(const CPythonOffsets& offsets, LineTableFormat format,
                                 std::unique_ptr<MemoryReader> memory, size_t max_entries)
    : offsets_(offsets), format_(format), memory_(std::move(memory)), max_entries_(max_entries) {}

ResolvedPythonFrame CodeObjectCache::Resolve(uint64_t code_object, int32_t instruction,
                                             uint16_t checksum, FunctionTable& functions) {
  auto it = entries_.find(code_object);
  if (it == entries_.end() || it->second.checksum != checksum) {
    if (it == entries_.end() && entries_.size() >= max_entries_) entries_.clear();
    Entry entry;
    ++counters_.reads;
    Result<CodeObject> code = ReadCodeObject(*memory_, offsets_, code_object);
    if (!code.ok()) {
      ++counters_.read_failures;
      static LogLimiter limiter(60'000'000'000);
      if (limiter.Allow() >= 0) {
        spdlog::debug("python code object at {:#x}: {}", code_object, code.status().message());
      }
      return {};
    }
    if (code->checksum != checksum) {
      // Freed and reused since BPF read it: the sampled function is gone.
      ++counters_.checksum_mismatches;
      return {};
    }
    entry.checksum = checksum;
    entry.function_id = functions.Intern(PythonFunction{
        .name = code->name, .filename = code->filename, .first_line = code->first_line});
    entry.code = std::move(code).value();
    it = entries_.insert_or_assign(code_object, std::move(entry)).first;
  }
  Entry& entry = it->second;
  auto line = entry.lines.find(instruction);
  if (line == entry.lines.end()) {
    if (entry.lines.size() >= kMaxLinesPerCode) entry.lines.clear();
    line = entry.lines.emplace(instruction, entry.code.LineOf(format_, instruction)).first;
  }
  return {.function_id = entry.function_id, .line = line->second};
}

}  // namespace profkit::python
