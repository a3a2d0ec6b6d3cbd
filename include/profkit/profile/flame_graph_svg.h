// Writes a self-contained interactive flame graph SVG: the frames are laid out statically (so the
// file reads as a plain image), and an embedded script adds the hover details, click to zoom and
// search. Frames are coloured by kind: Python green, native orange, kernel blue, merged grey.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "profkit/profile/stack_profile.h"

namespace profkit::profile {

struct FlameGraphOptions {
  // Frames narrower than this share of all samples (in percent) are merged, per parent, into one
  // grey "[N narrow frames]" frame (dropped when that too is narrower).
  double min_width_percent = 0.05;
  // Bounds the file size: when more frames than this would be drawn, the minimum width doubles
  // until they fit (about 250 bytes per frame).
  size_t max_frames = 20'000;
};

// The SVG of `profile`; its heading is profile.info (title, duration, rate, sample count).
std::string FlameGraphSvg(const StackProfile& profile, const FlameGraphOptions& options = {});

// `text` made safe inside an XML element or attribute: <>&"' escaped, bytes that are not valid
// UTF-8 replaced by U+FFFD and control characters (most are invalid in XML 1.0; a newline would
// split a tooltip line) by '?'.
std::string XmlEscape(std::string_view text);

}  // namespace profkit::profile
