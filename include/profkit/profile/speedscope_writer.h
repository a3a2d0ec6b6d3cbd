// Writes speedscope's file format (https://www.speedscope.app/file-format-schema.json, the schema
// the `speedscope` npm package ships; tests/browser/validate_speedscope.js checks against it).
#pragma once

#include <string>

#include "profkit/profile/stack_profile.h"

namespace profkit::profile {

// One "sampled" profile per thread, heaviest first (speedscope opens the first), sharing one
// frame table; frames carry file and line when known (a native frame without a source file
// carries its module as the file). Weights are nanoseconds of CPU when the profile's period is
// known, else the bare values (unit "none"). Names that are not valid UTF-8 get U+FFFD.
std::string SpeedscopeJson(const StackProfile& profile);

}  // namespace profkit::profile
