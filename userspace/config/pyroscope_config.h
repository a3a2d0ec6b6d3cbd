// Reading [[inputs.profile.pyroscope]] out of one [[inputs.profile]] table.
#pragma once

#include <vector>

#include "profkit/common/status.h"
#include "profkit/config/pyroscope_config.h"
#include "toml_section.h"

namespace profkit::config {

// Replaces `out` with the pyroscope tables of `profile`; errors name the dotted key.
Status ParsePyroscopeInputs(const TomlSection& profile, std::vector<PyroscopeInputConfig>* out);

}  // namespace profkit::config
