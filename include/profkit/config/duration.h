// Go-style durations ("500ms", "1m30s", "1.5h"), the form users know from Datakit and Go tools.
#pragma once

#include <chrono>
#include <string_view>

#include "profkit/common/status.h"

namespace profkit::config {

// A sequence of <decimal number><unit> with units ns, us (also µs and μs), ms, s, m, h.
// Every number needs a unit; signs, spaces and totals beyond int64 nanoseconds are errors.
Result<std::chrono::nanoseconds> ParseDuration(std::string_view text);

}  // namespace profkit::config
