// The human-facing formats `profkit record` and `profkit convert` write from a StackProfile.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "profkit/profile/flame_graph_svg.h"
#include "profkit/profile/stack_profile.h"

namespace profkit::profile {

enum class ViewFormat { kCollapsed, kSpeedscope, kSvg };

struct ViewOptions {
  bool collapsed_lines = true;  // Python frames as "name (file:line)" in collapsed text
  FlameGraphOptions flame_graph;
};

std::string RenderView(const StackProfile& profile, ViewFormat format, const ViewOptions& options);

// "collapsed", "speedscope" or "svg"; nullopt for anything else.
std::optional<ViewFormat> ParseViewFormat(std::string_view name);
// The format an output path's ending implies: .svg, .json (speedscope, e.g. x.speedscope.json),
// .txt/.folded/.collapsed; nullopt for any other ending.
std::optional<ViewFormat> ViewFormatOfPath(std::string_view path);
// The file ending profkit gives an output of `format`: ".svg", ".speedscope.json", ".txt".
std::string_view ViewFileEnding(ViewFormat format);

}  // namespace profkit::profile
