// Reading [[inputs.profile.pyroscope]] out of one [[inputs.profile]] table.
#pragma once

#include <vector>

#include "profkit/common/status.h"
#include "profkit/config/pyroscope_config.h"
#include "toml_section.h"

namespace profkit::config {

// The pyroscope tables of `profile`; errors name the dotted key.
Result<std::vector<PyroscopeInputConfig>> ParsePyroscopeInputs(const TomlSection& profile);

}  // namespace profkit::config
