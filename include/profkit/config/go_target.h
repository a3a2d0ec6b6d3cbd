// One `[[inputs.profile.go]]` entry: a Go program serving net/http/pprof that profkit pulls from
// (pull/ does the pulling; the entry lives here so that the config does not depend on it).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::config {

enum class GoProfileType { kCpu, kHeap, kGoroutine, kMutex, kBlock, kAllocs };

// DataKit's minimum (shorter intervals are raised to it there; profkit rejects them instead).
inline constexpr std::chrono::seconds kMinPullInterval{10};

struct GoTarget {
  std::string url;  // "http://host:6060"; only scheme, host and port are used, as in DataKit
  std::chrono::seconds interval{10};
  std::string service, env, version;
  // DataKit pulls nothing when enabled_types is unset (docs/datakit-protocol.md §5 row 17).
  std::vector<GoProfileType> enabled_types = {GoProfileType::kCpu, GoProfileType::kHeap,
                                              GoProfileType::kGoroutine};
  std::vector<std::pair<std::string, std::string>> tags;
  bool tls_open = false;                  // use https even when url says http
  std::string tls_ca, tls_cert, tls_key;  // PEM file paths; cert and key go together
  bool insecure_skip_verify = false;
};

// "cpu" → kCpu ...; unknown names are an error listing the accepted ones.
Result<GoProfileType> ParseGoProfileType(std::string_view name);
std::string_view GoProfileTypeName(GoProfileType type);

// Checks every field; the message names the field, e.g. "interval: 5s is below the minimum 10s".
Status ValidateGoTarget(const GoTarget& target);

// "scheme://host[:port]" of the target (https when tls_open), without path, query or user info.
Result<std::string> GoTargetBaseUrl(const GoTarget& target);

}  // namespace profkit::config
