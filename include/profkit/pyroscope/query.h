// The query string of Pyroscope's POST /ingest (docs/client-protocols.md §3.1), parsed and
// validated: errors are one line naming the parameter, for a 400 answer.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::pyroscope {

using Labels = std::vector<std::pair<std::string, std::string>>;
// As httplib::Params: every occurrence of every parameter, already percent-decoded.
using QueryParams = std::multimap<std::string, std::string>;

// A whole `name` longer than this is not an application name with labels but garbage.
inline constexpr size_t kMaxNameBytes = 4096;
// Clients send a dozen labels (otel.scope.*, process.runtime.*, the user's tags).
inline constexpr size_t kMaxLabels = 64;
// Sample rates above 1 GHz would make the sampling period zero nanoseconds.
inline constexpr int64_t kMaxSampleRate = 1'000'000'000;
// Pyroscope's types.DefaultSampleRate.
inline constexpr int kDefaultSampleRate = 100;

// "app.name{k=v,k2=v2}": the application name and its labels, in order.
struct AppName {
  std::string name;
  Labels labels;
};

// A label becomes a tag: keys are [A-Za-z0-9_.-]+, values have no '{', '}' or control
// characters, both at most kMaxLabelBytes. Errors name the key.
inline constexpr size_t kMaxLabelBytes = 1024;
Status ValidateLabel(std::string_view key, std::string_view value);

// The name must be non-empty; labels as ValidateLabel; blanks around keys and values are
// dropped; a repeated key is an error.
Result<AppName> ParseAppName(std::string_view text);

// A from/until value as unix nanoseconds: digits only → unix time whose unit follows from the
// digit count (up to 10: s, 11-13: ms, 14-16: µs, 17-19: ns), except 8 digits = YYYYMMDD (UTC
// midnight); "now", "now-1h", "now+30s" (units s, m, h, d). Empty → now.
Result<int64_t> ParseTime(std::string_view text, int64_t now_unix_nanos);

struct IngestQuery {
  AppName app;
  // The metric suffix of the application name (".cpu", ".inuse_space", ...) without the dot,
  // removed from app.name; "" when the name has none of the known suffixes.
  std::string metric;
  int64_t from_unix_nanos = 0, until_unix_nanos = 0;
  int64_t sample_rate = kDefaultSampleRate;
  std::string spy_name = "unknown";
  std::string units = "samples";
  std::string aggregation_type = "sum";
  std::string format;  // "" when absent
};

// Missing optional parameters take the defaults above; `name` is required. A parameter given
// more than once is an error.
Result<IngestQuery> ParseIngestQuery(const QueryParams& params, int64_t now_unix_nanos);

}  // namespace profkit::pyroscope
