#include "profkit/profile/stack_profile.h"

#include <fmt/format.h>

#include <limits>
#include <unordered_map>
#include <utility>

#include "profkit/profile/hashing.h"

namespace profkit::profile {
namespace {

namespace pb = perftools::profiles;

// Which sample value the views show: profkit's pprof has samples/count first, cpu/nanoseconds
// second; a profile of another writer falls back to its first type.
int ChosenValueIndex(const pb::Profile& pprof) {
  for (int i = 0; i < pprof.sample_type_size(); ++i) {
    const pb::ValueType& vt = pprof.sample_type(i);
    if (pprof.string_table(vt.type()) == "samples" || pprof.string_table(vt.unit()) == "count") {
      return i;
    }
  }
  return 0;
}

FrameKind KindOf(const pb::Profile& pprof, const pb::Mapping* mapping, const pb::Function& fn) {
  if (mapping != nullptr) {
    return pprof.string_table(mapping->filename()) == kKernelMappingName ? FrameKind::kKernel
                                                                         : FrameKind::kNative;
  }
  return pprof.string_table(fn.filename()).empty() ? FrameKind::kNative : FrameKind::kPython;
}

std::string ThreadOf(const pb::Profile& pprof, const pb::Sample& sample) {
  std::string name;
  int64_t tid = 0;
  for (const pb::Label& label : sample.label()) {
    const std::string& key = pprof.string_table(label.key());
    if (key == "thread_name") name = pprof.string_table(label.str());
    if (key == "tid") tid = label.num();
  }
  if (tid == 0) return name;
  return fmt::format("{} ({})", name.empty() ? "thread" : name, tid);
}

}  // namespace

size_t ViewFrameHash::operator()(const ViewFrame& f) const noexcept {
  std::hash<std::string_view> h;
  size_t seed = h(f.function);
  HashCombine(seed, h(f.file));
  HashCombine(seed, h(f.module));
  HashCombine(seed, std::hash<int64_t>()(f.line));
  HashCombine(seed, static_cast<size_t>(f.kind));
  return seed;
}

uint32_t StackProfile::InternFrame(const ViewFrame& frame) {
  auto [it, inserted] = frame_index_.try_emplace(frame, static_cast<uint32_t>(frames_.size()));
  if (inserted) frames_.push_back(frame);
  return it->second;
}

uint32_t StackProfile::InternThread(std::string_view name) {
  auto [it, inserted] =
      thread_index_.try_emplace(std::string(name), static_cast<uint32_t>(threads_.size()));
  if (inserted) threads_.emplace_back(name);
  return it->second;
}

void StackProfile::AddStack(std::vector<uint32_t> frames_root_first, int64_t value,
                            uint32_t thread) {
  if (frames_root_first.empty() || value <= 0) return;
  if (threads_.empty()) InternThread("");
  if (__builtin_add_overflow(total_, value, &total_)) total_ = std::numeric_limits<int64_t>::max();
  stacks_.push_back(Stack{std::move(frames_root_first), value, thread});
}

StackProfile StackProfileFromPprof(const pb::Profile& pprof) {
  return StackProfileFromPprof(pprof, ChosenValueIndex(pprof));
}

StackProfile StackProfileFromPprof(const pb::Profile& pprof, int value_index) {
  StackProfile profile;
  if (pprof.sample_type_size() > 0) {
    profile.info.value_name = pprof.string_table(pprof.sample_type(value_index).type());
    profile.info.value_unit = pprof.string_table(pprof.sample_type(value_index).unit());
  }
  profile.info.duration_ns = pprof.duration_nanos();
  const pb::ValueType& period_type = pprof.period_type();
  if (pprof.string_table(period_type.unit()) == "nanoseconds") {
    profile.info.period_ns = pprof.period();
  }

  std::unordered_map<uint64_t, const pb::Mapping*> mappings;
  for (const pb::Mapping& m : pprof.mapping()) mappings.emplace(m.id(), &m);
  std::unordered_map<uint64_t, const pb::Function*> functions;
  for (const pb::Function& f : pprof.function()) functions.emplace(f.id(), &f);
  // Each location's frames, root first (pprof lists inlined functions innermost first).
  std::unordered_map<uint64_t, std::vector<uint32_t>> location_frames;
  for (const pb::Location& location : pprof.location()) {
    const pb::Mapping* mapping =
        location.mapping_id() == 0 ? nullptr : mappings.at(location.mapping_id());
    const std::string module = mapping ? pprof.string_table(mapping->filename()) : std::string();
    std::vector<uint32_t>& frames = location_frames[location.id()];
    if (location.line_size() == 0) {
      // An unsymbolized address: named like profkit names a frame without a symbol.
      frames.push_back(profile.InternFrame(ViewFrame{
          .kind = mapping != nullptr && module == kKernelMappingName ? FrameKind::kKernel
                                                                     : FrameKind::kNative,
          .function = module.empty() ? fmt::format("0x{:x}", location.address())
                                     : fmt::format("{}+0x{:x}", module, location.address()),
          .module = module}));
      continue;
    }
    for (auto line = location.line().rbegin(); line != location.line().rend(); ++line) {
      const pb::Function& fn = *functions.at(line->function_id());
      frames.push_back(profile.InternFrame(ViewFrame{.kind = KindOf(pprof, mapping, fn),
                                                     .function = pprof.string_table(fn.name()),
                                                     .file = pprof.string_table(fn.filename()),
                                                     .line = line->line(),
                                                     .module = module}));
    }
  }

  std::vector<uint32_t> stack;
  for (const pb::Sample& sample : pprof.sample()) {
    if (sample.value_size() == 0) continue;
    stack.clear();
    for (auto id = sample.location_id().rbegin(); id != sample.location_id().rend(); ++id) {
      const std::vector<uint32_t>& frames = location_frames.at(*id);
      stack.insert(stack.end(), frames.begin(), frames.end());
    }
    profile.AddStack(stack, sample.value(value_index),
                     profile.InternThread(ThreadOf(pprof, sample)));
  }
  return profile;
}

}  // namespace profkit::profile
