// [[inputs.profile.go]]: DataKit's Go pull targets, read into GoTarget values.
#pragma once

#include <vector>

#include "profkit/common/status.h"
#include "profkit/config/go_target.h"
#include "toml_section.h"

namespace profkit::config {

// Reads every [[inputs.profile.go]] table of the [[inputs.profile]] `profile` and validates each
// target; errors name the key, e.g. "inputs.profile[0].go[1].interval: ...".
Result<std::vector<GoTarget>> ParseGoTargets(const TomlSection& profile);

}  // namespace profkit::config
