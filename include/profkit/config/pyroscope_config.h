// [[inputs.profile.pyroscope]]: one Pyroscope-compatible listener per table (DataKit's keys,
// docs/datakit-protocol.md §6).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace profkit::config {

// Listeners beyond this are a configuration mistake (each one is a port and a thread pool).
inline constexpr size_t kMaxPyroscopeInputs = 16;

struct PyroscopeInputConfig {
  std::string url;  // the listen address as written, e.g. "0.0.0.0:4040"
  std::string host;
  uint16_t port = 0;
  // Empty: taken from the client (service_name label, else the application name).
  std::string service, env, version;
  // [inputs.profile.pyroscope.tags], sorted by key; they win over the client's labels.
  std::vector<std::pair<std::string, std::string>> tags;
};

}  // namespace profkit::config
