#include "profkit/profile/profile_views.h"

#include "profkit/profile/collapsed_writer.h"
#include "profkit/profile/speedscope_writer.h"

namespace profkit::profile {

std::string RenderView(const StackProfile& profile, ViewFormat format, const ViewOptions& options) {
  switch (format) {
    case ViewFormat::kCollapsed:
      return CollapsedText(profile, options.collapsed_lines);
    case ViewFormat::kSpeedscope:
      return SpeedscopeJson(profile);
    case ViewFormat::kSvg:
      break;
  }
  return FlameGraphSvg(profile, options.flame_graph);
}

std::optional<ViewFormat> ParseViewFormat(std::string_view name) {
  if (name == "collapsed") return ViewFormat::kCollapsed;
  if (name == "speedscope") return ViewFormat::kSpeedscope;
  if (name == "svg") return ViewFormat::kSvg;
  return std::nullopt;
}

std::optional<ViewFormat> ViewFormatOfPath(std::string_view path) {
  if (path.ends_with(".svg")) return ViewFormat::kSvg;
  if (path.ends_with(".json")) return ViewFormat::kSpeedscope;
  if (path.ends_with(".txt") || path.ends_with(".folded") || path.ends_with(".collapsed")) {
    return ViewFormat::kCollapsed;
  }
  return std::nullopt;
}

std::string_view ViewFileEnding(ViewFormat format) {
  switch (format) {
    case ViewFormat::kCollapsed:
      return ".txt";
    case ViewFormat::kSpeedscope:
      return ".speedscope.json";
    case ViewFormat::kSvg:
      break;
  }
  return ".svg";
}

}  // namespace profkit::profile
