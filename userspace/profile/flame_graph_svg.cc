#include "profkit/profile/flame_graph_svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "flame_graph_script.h"

namespace profkit::profile {
namespace {

constexpr double kWidth = 1200;
constexpr double kPad = 10;           // left and right margin
constexpr double kFrameHeight = 16;   // one stack level, gap included
constexpr double kHeaderHeight = 60;  // title, legend and search box
constexpr double kFooterHeight = 28;  // the details line
constexpr double kCharWidth = 6.7;    // of the 11 px monospace labels
constexpr uint32_t kRootFrame = UINT32_MAX;
constexpr uint32_t kMergedFrame = UINT32_MAX - 1;

// The call tree: stacks with a common prefix share nodes.
struct Node {
  uint32_t frame = kRootFrame;
  int64_t value = 0;
  std::vector<uint32_t> children;
};

// Frames drawn as one: Python frames are told apart by line (their label names it, as py-spy's
// does), native and kernel frames only by function, file and module, so the calls of one function
// from different lines of its caller do not split it. Maps each frame to its first equal.
std::vector<uint32_t> DrawnFrames(const StackProfile& profile) {
  std::unordered_map<ViewFrame, uint32_t, ViewFrameHash> first;
  std::vector<uint32_t> drawn;
  drawn.reserve(profile.frames().size());
  for (uint32_t i = 0; i < profile.frames().size(); ++i) {
    ViewFrame key = profile.frames()[i];
    if (key.kind != FrameKind::kPython) key.line = 0;
    drawn.push_back(first.try_emplace(std::move(key), i).first->second);
  }
  return drawn;
}

// Stacks sorted by their drawn frames share their common prefix with the previous stack, so the
// tree grows without a lookup per frame (a hash map of (parent, frame) spent seconds in cache
// misses on 100,000 stacks).
std::vector<Node> BuildTree(const StackProfile& profile) {
  const std::vector<uint32_t> drawn_of = DrawnFrames(profile);
  std::vector<std::vector<uint32_t>> drawn;
  drawn.reserve(profile.stacks().size());
  for (const StackProfile::Stack& stack : profile.stacks()) {
    std::vector<uint32_t>& frames = drawn.emplace_back();
    frames.reserve(stack.frames.size());
    for (uint32_t frame : stack.frames) frames.push_back(drawn_of[frame]);
  }
  std::vector<uint32_t> order(drawn.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return drawn[a] < drawn[b]; });

  std::vector<Node> nodes(1);
  std::vector<uint32_t> path;  // the previous stack's nodes, by depth
  const std::vector<uint32_t>* previous = nullptr;
  for (uint32_t index : order) {
    const std::vector<uint32_t>& frames = drawn[index];
    const int64_t value = profile.stacks()[index].value;
    size_t shared = 0;
    if (previous != nullptr) {
      while (shared < frames.size() && shared < previous->size() &&
             frames[shared] == (*previous)[shared]) {
        ++shared;
      }
    }
    path.resize(shared);
    nodes[0].value += value;
    for (size_t depth = 0; depth < frames.size(); ++depth) {
      if (depth >= shared) {
        const uint32_t parent = depth == 0 ? 0 : path[depth - 1];
        const auto child = static_cast<uint32_t>(nodes.size());
        nodes.push_back(Node{.frame = frames[depth]});
        nodes[parent].children.push_back(child);
        path.push_back(child);
      }
      nodes[path[depth]].value += value;
    }
    previous = &frames;
  }
  // Alphabetical, like flamegraph.pl, so a function keeps its place between profiles.
  for (Node& node : nodes) {
    std::sort(node.children.begin(), node.children.end(), [&](uint32_t a, uint32_t b) {
      const ViewFrame& fa = profile.frames()[nodes[a].frame];
      const ViewFrame& fb = profile.frames()[nodes[b].frame];
      if (fa.function != fb.function) return fa.function < fb.function;
      return nodes[a].frame < nodes[b].frame;
    });
  }
  return nodes;
}

// One rectangle of the graph.
struct Box {
  uint32_t frame;  // or kRootFrame / kMergedFrame
  uint32_t depth;
  int64_t start;  // in values from the left edge
  int64_t value;
  uint32_t merged_count = 0;  // frames a kMergedFrame box stands for
};

class Layout {
 public:
  Layout(const std::vector<Node>& nodes, int64_t min_value)
      : nodes_(nodes), min_value_(min_value) {}

  // False when more than `max_boxes` boxes would be needed.
  bool Run(size_t max_boxes) {
    max_boxes_ = max_boxes;
    boxes_.push_back(Box{kRootFrame, 0, 0, nodes_[0].value});
    return Place(0, 0, 0);
  }
  std::vector<Box>& boxes() { return boxes_; }

 private:
  bool Place(uint32_t node, uint32_t depth, int64_t start) {
    int64_t merged_value = 0;
    uint32_t merged_count = 0;
    for (uint32_t child : nodes_[node].children) {
      const Node& c = nodes_[child];
      if (c.value < min_value_) {
        merged_value += c.value;
        ++merged_count;
        continue;
      }
      if (boxes_.size() >= max_boxes_) return false;
      boxes_.push_back(Box{c.frame, depth + 1, start, c.value});
      if (!Place(child, depth + 1, start)) return false;
      start += c.value;
    }
    if (merged_count > 0 && merged_value >= min_value_) {
      if (boxes_.size() >= max_boxes_) return false;
      boxes_.push_back(Box{kMergedFrame, depth + 1, start, merged_value, merged_count});
    }
    return true;
  }

  const std::vector<Node>& nodes_;
  const int64_t min_value_;
  size_t max_boxes_ = 0;
  std::vector<Box> boxes_;
};

std::string_view Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The frame's label: Python frames as py-spy names them, "function (file:line)".
std::string DisplayName(const ViewFrame& frame) {
  std::string name = frame.function.empty() ? std::string("[unknown]") : frame.function;
  if (frame.kind == FrameKind::kPython && !frame.file.empty()) {
    name += frame.line > 0 ? fmt::format(" ({}:{})", Basename(frame.file), frame.line)
                           : fmt::format(" ({})", Basename(frame.file));
  }
  return name;
}

// The tooltip's second line: where the frame is (the line only for Python: see DrawnFrames).
std::string Location(const ViewFrame& frame) {
  std::string where;
  if (!frame.file.empty()) {
    where = frame.line > 0 && frame.kind == FrameKind::kPython
                ? fmt::format("{}:{}", frame.file, frame.line)
                : frame.file;
  }
  if (!frame.module.empty()) where += where.empty() ? frame.module : " in " + frame.module;
  return where;
}

uint32_t NameHash(std::string_view name) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h;
}

// A colour in the kind's band, varied by name so neighbours stand apart.
std::string Colour(FrameKind kind, std::string_view name) {
  const uint32_t h = NameHash(name);
  const int a = static_cast<int>(h % 55), b = static_cast<int>((h >> 8) % 55);
  switch (kind) {
    case FrameKind::kPython:
      return fmt::format("rgb({},{},{})", 90 + a, 190 + b / 2, 70 + b);
    case FrameKind::kKernel:
      return fmt::format("rgb({},{},{})", 80 + a, 150 + b, 230);
    case FrameKind::kNative:
      break;
  }
  return fmt::format("rgb({},{},{})", 230, 100 + a * 2, 40 + b / 2);
}

std::string Label(std::string_view name, double width) {
  const auto fit = static_cast<size_t>(std::max(0.0, (width - 6) / kCharWidth));
  if (fit < 3) return "";
  if (name.size() <= fit) return std::string(name);
  return std::string(name.substr(0, fit - 2)) + "..";
}

std::string Heading(const StackProfile& profile) {
  const ProfileInfo& info = profile.info;
  std::string heading = info.title.empty() ? std::string("profkit") : info.title;
  if (info.duration_ns > 0) heading += fmt::format(" · {:.1f} s", info.duration_ns / 1e9);
  if (info.period_ns > 0) heading += fmt::format(" at {:.0f} Hz", 1e9 / info.period_ns);
  heading += fmt::format(" · {} {}", profile.total(), info.value_name);
  return heading;
}

void AppendBox(std::string& out, const StackProfile& profile, const Box& box, double scale,
               double graph_bottom) {
  std::string name, where, kind_class, colour;
  if (box.frame == kRootFrame) {
    name = "all";
    kind_class = "r";
    colour = "rgb(200,200,200)";
  } else if (box.frame == kMergedFrame) {
    name = fmt::format("[{} narrow frames]", box.merged_count);
    where = "frames narrower than the minimum width, merged";
    kind_class = "m";
    colour = "rgb(175,175,175)";
  } else {
    const ViewFrame& frame = profile.frames()[box.frame];
    name = DisplayName(frame);
    where = Location(frame);
    kind_class = frame.kind == FrameKind::kPython   ? "p"
                 : frame.kind == FrameKind::kKernel ? "k"
                                                    : "n";
    colour = Colour(frame.kind, frame.function);
  }
  const double percent = 100.0 * static_cast<double>(box.value) /
                         static_cast<double>(std::max<int64_t>(profile.total(), 1));
  const double x = kPad + static_cast<double>(box.start) * scale;
  const double width = static_cast<double>(box.value) * scale;
  const double y = graph_bottom - (box.depth + 1) * kFrameHeight;
  const std::string value_text =
      fmt::format("{} {}, {:.2f}%", box.value, profile.info.value_name, percent);
  fmt::format_to(std::back_inserter(out),
                 "<g class=\"f {}\"><title>{}\n{}{}</title><rect x=\"{:.2f}\" y=\"{:.0f}\" "
                 "width=\"{:.2f}\" height=\"{:.0f}\" fill=\"{}\"/><text x=\"{:.2f}\" "
                 "y=\"{:.0f}\">{}</text></g>\n",
                 kind_class, XmlEscape(name), where.empty() ? "" : XmlEscape(where) + "\n",
                 XmlEscape(value_text), x, y, width, kFrameHeight - 1, colour, x + 3, y + 11.5,
                 XmlEscape(Label(name, width)));
}

// Length of the valid UTF-8 sequence at text[i], or 0.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(i);
  size_t length = 0;
  uint32_t code_point = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong encodings, UTF-16 surrogates and code points past U+10FFFF are not valid UTF-8.
  static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinimum[length] || (code_point >= 0xD800 && code_point <= 0xDFFF) ||
      code_point > 0x10FFFF) {
    return 0;
  }
  return length;
}

}  // namespace

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
      continue;
    }
    if (length > 1) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // A newline too: the tooltip's lines are the frame's fields.
        out += static_cast<uint8_t>(c) < 0x20 || c == 0x7F ? '?' : c;
    }
    ++i;
  }
  return out;
}

std::string FlameGraphSvg(const StackProfile& profile, const FlameGraphOptions& options) {
  const std::vector<Node> nodes = BuildTree(profile);
  const int64_t total = std::max<int64_t>(profile.total(), 1);
  int64_t min_value = std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(total) * options.min_width_percent / 100.0));
  const size_t max_boxes = std::max<size_t>(options.max_frames, 1);
  const auto layout = [&](int64_t min) -> std::optional<std::vector<Box>> {
    Layout attempt(nodes, min);
    if (!attempt.Run(max_boxes)) return std::nullopt;
    return std::move(attempt.boxes());
  };
  // Over the bound, the smallest minimum width that fits: doubling brackets it, bisection finds
  // it (frames of one width are all kept or all merged, so what fits is not always near the bound).
  std::optional<std::vector<Box>> boxes = layout(min_value);
  if (!boxes) {
    int64_t too_small = min_value;
    int64_t fits = min_value;
    while (!boxes) {
      too_small = fits;
      fits = fits > total / 2 ? total + 1 : fits * 2;
      boxes = layout(fits);
    }
    while (fits - too_small > 1) {
      const int64_t middle = too_small + (fits - too_small) / 2;
      if (std::optional<std::vector<Box>> attempt = layout(middle)) {
        fits = middle;
        boxes = std::move(attempt);
      } else {
        too_small = middle;
      }
    }
    min_value = fits;
  }
  uint32_t max_depth = 0;
  for (const Box& box : *boxes) max_depth = std::max(max_depth, box.depth);

  const double height = kHeaderHeight + (max_depth + 1) * kFrameHeight + kFooterHeight;
  const double graph_bottom = height - kFooterHeight;
  const double scale = (kWidth - 2 * kPad) / static_cast<double>(total);
  std::string out;
  out.reserve(boxes->size() * 260 + 8192);
  fmt::format_to(std::back_inserter(out),
                 "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
                 "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" "
                 "height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\">\n"
                 "{2}"
                 "<rect width=\"100%\" height=\"100%\" fill=\"#fbfbf8\"/>\n"
                 "<text id=\"heading\" x=\"{3:.0f}\" y=\"22\" text-anchor=\"middle\">{4}</text>\n",
                 kWidth, height, kFlameGraphStyle, kWidth / 2, XmlEscape(Heading(profile)));
  fmt::format_to(std::back_inserter(out),
                 "<g id=\"legend\"><rect x=\"10\" y=\"36\" width=\"12\" height=\"12\" "
                 "fill=\"{}\"/><text x=\"26\" y=\"46\">Python</text><rect x=\"80\" y=\"36\" "
                 "width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"96\" y=\"46\">native</text>"
                 "<rect x=\"150\" y=\"36\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"166\" "
                 "y=\"46\">kernel</text></g>\n"
                 "<text id=\"reset\" x=\"240\" y=\"46\" visibility=\"hidden\">[reset zoom]</text>\n"
                 "<text id=\"merged\" x=\"350\" y=\"46\">{}</text>\n"
                 "<text id=\"matched\" x=\"{:.0f}\" y=\"{:.0f}\" text-anchor=\"end\"> </text>\n"
                 "<text id=\"details\" x=\"{:.0f}\" y=\"{:.0f}\"> </text>\n"
                 "<foreignObject x=\"{:.0f}\" y=\"32\" width=\"260\" height=\"24\">"
                 "<input xmlns=\"http://www.w3.org/1999/xhtml\" id=\"search\" type=\"search\" "
                 "placeholder=\"Search (regular expression)\"/></foreignObject>\n"
                 "<g id=\"frames\">\n",
                 Colour(FrameKind::kPython, ""), Colour(FrameKind::kNative, ""),
                 Colour(FrameKind::kKernel, ""),
                 min_value > 1 ? fmt::format("frames under {} {} merged", min_value,
                                             XmlEscape(profile.info.value_name))
                               : std::string(" "),
                 kWidth - kPad, height - 8, kPad, height - 8, kWidth - kPad - 260);
  for (const Box& box : *boxes) AppendBox(out, profile, box, scale, graph_bottom);
  out += "</g>\n<script type=\"text/ecmascript\"><![CDATA[\n";
  out += kFlameGraphScript;
  out += "]]></script>\n</svg>\n";
  return out;
}

}  // namespace profkit::profile
