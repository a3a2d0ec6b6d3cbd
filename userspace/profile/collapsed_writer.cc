#include "profkit/profile/collapsed_writer.h"

#include <fmt/format.h>

#include <iterator>
#include <limits>
#include <string_view>
#include <vector>

namespace profkit::profile {
namespace {

constexpr std::string_view kUnknownFrame = "[unknown]";

void AppendSanitized(std::string& out, std::string_view name) {
  if (name.empty()) {
    out += kUnknownFrame;
    return;
  }
  for (char c : name) {
    switch (c) {
      case ';':
        out += ':';
        break;
      case '\n':
      case '\r':
        out += ' ';
        break;
      default:
        out += c;
    }
  }
}

}  // namespace

void CollapsedWriter::Add(std::span<const std::string> frames_root_first, int64_t count) {
  if (frames_root_first.empty() || count <= 0) return;
  std::string stack;
  for (const std::string& frame : frames_root_first) {
    if (!stack.empty()) stack += ';';
    AppendSanitized(stack, frame);
  }
  int64_t& total = counts_[std::move(stack)];
  if (__builtin_add_overflow(total, count, &total)) total = std::numeric_limits<int64_t>::max();
}

std::string CollapsedWriter::Finish() const {
  std::string out;
  for (const auto& [stack, count] : counts_)
    fmt::format_to(std::back_inserter(out), "{} {}\n", stack, count);
  return out;
}

std::string CollapsedText(const StackProfile& profile, bool with_lines) {
  std::vector<std::string> names;
  names.reserve(profile.frames().size());
  for (const ViewFrame& frame : profile.frames()) {
    if (frame.kind == FrameKind::kKernel) {
      names.push_back(frame.function + "_[k]");
    } else if (frame.kind == FrameKind::kPython && with_lines && !frame.file.empty()) {
      names.push_back(frame.line > 0
                          ? fmt::format("{} ({}:{})", frame.function, frame.file, frame.line)
                          : fmt::format("{} ({})", frame.function, frame.file));
    } else {
      names.push_back(frame.function);
    }
  }
  CollapsedWriter writer;
  std::vector<std::string> stack;
  for (const StackProfile::Stack& s : profile.stacks()) {
    stack.clear();
    for (uint32_t frame : s.frames) stack.push_back(names[frame]);
    writer.Add(stack, s.value);
  }
  return writer.Finish();
}

}  // namespace profkit::profile
