// Writes the "collapsed" (folded) stack format read by flamegraph.pl and speedscope: one line per
// distinct stack, frames root first joined by ';', a space, the count.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "profkit/profile/stack_profile.h"

namespace profkit::profile {

// Identical stacks are merged; lines are sorted by stack text so the output is deterministic.
// Frame names are sanitized so a name cannot break the format: ';' (the frame separator) becomes
// ':', '\n' and '\r' (the line separator) become ' ', and an empty name becomes "[unknown]".
// Spaces inside names are kept: readers split the count off at the last space.
class CollapsedWriter {
 public:
  // Empty stacks and non-positive counts are ignored. Counts of a stack saturate at INT64_MAX.
  void Add(std::span<const std::string> frames_root_first, int64_t count);
  std::string Finish() const;

 private:
  std::map<std::string, int64_t> counts_;
};

// The collapsed text of a whole profile (threads merged). Python frames read `name (file:line)`,
// as py-spy writes them, unless `with_lines` is false; kernel frames get the "_[k]" suffix
// flamegraph.pl colours as kernel; native frames are their function names.
std::string CollapsedText(const StackProfile& profile, bool with_lines = true);

}  // namespace profkit::profile
