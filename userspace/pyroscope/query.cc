#include "profkit/pyroscope/query.h"
#include "profkit/common/quoted.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>

namespace profkit::pyroscope {
namespace {

// Free-form parameters (spyName, units, ...) end up in tags; real values are short words.
constexpr size_t kMaxParamBytes = 256;

// Suffixes of the application name that name the metric of a non-pprof upload
// (docs/client-protocols.md §3.1).
constexpr std::array<std::string_view, 14> kMetricSuffixes = {
    "cpu",           "wall",           "itimer",     "alloc_objects", "alloc_space",
    "inuse_objects", "inuse_space",    "goroutines", "mutex_count",   "mutex_duration",
    "block_count",   "block_duration", "lock_count", "lock_duration"};

std::string_view Trim(std::string_view text) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  return text;
}

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool IsControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

bool AllDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<int64_t> ParseInt(std::string_view text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidInputf("{} is not an integer", Quoted(text));
  }
  return value;
}

// "now", "now-1h", "now+30s".
Result<int64_t> ParseRelative(std::string_view text, int64_t now_unix_nanos) {
  std::string_view offset = text.substr(3);
  if (offset.empty()) return now_unix_nanos;
  const int64_t sign = offset[0] == '-' ? -1 : offset[0] == '+' ? 1 : 0;
  offset.remove_prefix(1);
  if (sign == 0 || offset.size() < 2)
    return Status::InvalidInputf("{} is not now[+-]<n><s|m|h|d>", Quoted(text));
  int64_t unit = 0;
  switch (offset.back()) {
    case 's':
      unit = 1'000'000'000;
      break;
    case 'm':
      unit = 60'000'000'000;
      break;
    case 'h':
      unit = 3'600'000'000'000;
      break;
    case 'd':
      unit = 86'400'000'000'000;
      break;
    default:
      return Status::InvalidInputf("{}: the offset unit must be s, m, h or d", Quoted(text));
  }
  offset.remove_suffix(1);
  // Ten years of days fit easily in int64 nanoseconds; more is no time a profile covers.
  constexpr int64_t kMaxOffsetDays = 3650;
  if (!AllDigits(offset) || offset.size() > 9)
    return Status::InvalidInputf("{}: bad offset", Quoted(text));
  PROFKIT_ASSIGN_OR_RETURN(const int64_t amount, ParseInt(offset));
  if (amount > kMaxOffsetDays * 86'400'000'000'000 / unit) {
    return Status::InvalidInputf("{}: offset over {} days", Quoted(text), kMaxOffsetDays);
  }
  return now_unix_nanos + sign * amount * unit;
}

Result<int64_t> ParseYyyymmdd(std::string_view text) {
  const auto number = [&](size_t at, size_t size) {
    int value = 0;
    std::from_chars(text.data() + at, text.data() + at + size, value);
    return value;
  };
  struct tm date = {};
  date.tm_year = number(0, 4) - 1900;
  date.tm_mon = number(4, 2) - 1;
  date.tm_mday = number(6, 2);
  if (date.tm_mon < 0 || date.tm_mon > 11 || date.tm_mday < 1 || date.tm_mday > 31) {
    return Status::InvalidInputf("{} is not a YYYYMMDD date", Quoted(text));
  }
  return static_cast<int64_t>(timegm(&date)) * 1'000'000'000;
}

// The only occurrence of `key`; nullptr when absent.
Result<const std::string*> Single(const QueryParams& params, const std::string& key) {
  const auto [begin, end] = params.equal_range(key);
  if (begin == end) return static_cast<const std::string*>(nullptr);
  if (std::next(begin) != end) return Status::InvalidInputf("{}: given more than once", key);
  return &begin->second;
}

Status Word(const QueryParams& params, const std::string& key, std::string* out) {
  PROFKIT_ASSIGN_OR_RETURN(const std::string* value, Single(params, key));
  if (value == nullptr || value->empty()) return Status::Ok();
  if (value->size() > kMaxParamBytes ||
      std::any_of(value->begin(), value->end(), [](char c) { return IsControl(c) || c == ','; })) {
    return Status::InvalidInputf("{}: at most {} bytes without ',' or control characters", key,
                                 kMaxParamBytes);
  }
  *out = *value;
  return Status::Ok();
}

}  // namespace

Status ValidateLabel(std::string_view key, std::string_view value) {
  if (key.empty() || key.size() > kMaxLabelBytes ||
      !std::all_of(key.begin(), key.end(), IsKeyChar)) {
    return Status::InvalidInputf("label key {} must be [A-Za-z0-9_.-]+, at most {} bytes",
                                 Quoted(key), kMaxLabelBytes);
  }
  if (value.size() > kMaxLabelBytes || std::any_of(value.begin(), value.end(), [](char c) {
        return IsControl(c) || c == '{' || c == '}';
      })) {
    return Status::InvalidInputf(
        "the value of label {} is over {} bytes or contains '{{', '}}' or a control character",
        Quoted(key), kMaxLabelBytes);
  }
  return Status::Ok();
}

Result<AppName> ParseAppName(std::string_view text) {
  if (text.size() > kMaxNameBytes) {
    return Status::InvalidInputf("name: longer than {} bytes ({})", kMaxNameBytes, text.size());
  }
  AppName app;
  const size_t brace = text.find('{');
  app.name = std::string(Trim(text.substr(0, brace)));
  if (app.name.empty()) return Status::InvalidInput("name: the application name is empty");
  if (std::any_of(app.name.begin(), app.name.end(),
                  [](char c) { return IsControl(c) || c == ',' || c == '}' || c == '='; })) {
    return Status::InvalidInputf("name: {} contains ',', '}}', '=' or a control character",
                                 Quoted(app.name));
  }
  if (brace == std::string_view::npos) return app;
  std::string_view rest = text.substr(brace + 1);
  if (rest.empty() || rest.back() != '}')
    return Status::InvalidInput("name: the labels do not end with '}'");
  rest.remove_suffix(1);
  if (Trim(rest).empty()) return app;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view pair = rest.substr(0, comma);
    const size_t equals = pair.find('=');
    if (equals == std::string_view::npos) {
      return Status::InvalidInputf("name: label {} is not key=value", Quoted(pair));
    }
    const std::string_view key = Trim(pair.substr(0, equals));
    const std::string_view value = Trim(pair.substr(equals + 1));
    PROFKIT_RETURN_IF_ERROR(ValidateLabel(key, value).WithContext("name"));
    if (std::any_of(app.labels.begin(), app.labels.end(),
                    [&](const auto& label) { return label.first == key; })) {
      return Status::InvalidInputf("name: label {} given twice", Quoted(key));
    }
    if (app.labels.size() == kMaxLabels)
      return Status::InvalidInputf("name: more than {} labels", kMaxLabels);
    app.labels.emplace_back(key, value);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
    // A trailing comma ("{a=b,}") is what some clients write.
    if (Trim(rest).empty()) break;
  }
  return app;
}

Result<int64_t> ParseTime(std::string_view text, int64_t now_unix_nanos) {
  if (text.empty()) return now_unix_nanos;
  if (text.starts_with("now")) return ParseRelative(text, now_unix_nanos);
  if (!AllDigits(text) || text.size() > 19) {
    return Status::InvalidInputf("{} is not a unix time (up to 19 digits) or now[+-]offset",
                                 Quoted(text));
  }
  if (text.size() == 8) return ParseYyyymmdd(text);
  PROFKIT_ASSIGN_OR_RETURN(const int64_t value, ParseInt(text));
  const int64_t nanos_per_unit = text.size() <= 10   ? 1'000'000'000
                                 : text.size() <= 13 ? 1'000'000
                                 : text.size() <= 16 ? 1'000
                                                     : 1;
  if (value > INT64_MAX / nanos_per_unit) {
    return Status::InvalidInputf("{} is past the year 2262 (unix nanoseconds overflow)",
                                 Quoted(text));
  }
  return value * nanos_per_unit;
}

Result<IngestQuery> ParseIngestQuery(const QueryParams& params, int64_t now_unix_nanos) {
  IngestQuery query;
  PROFKIT_ASSIGN_OR_RETURN(const std::string* name, Single(params, "name"));
  if (name == nullptr) return Status::InvalidInput("name: required (e.g. name=my-app{env=dev})");
  PROFKIT_ASSIGN_OR_RETURN(query.app, ParseAppName(*name));
  const size_t dot = query.app.name.rfind('.');
  if (dot != std::string::npos && dot > 0) {
    const std::string_view suffix = std::string_view(query.app.name).substr(dot + 1);
    if (std::find(kMetricSuffixes.begin(), kMetricSuffixes.end(), suffix) !=
        kMetricSuffixes.end()) {
      query.metric = std::string(suffix);
      query.app.name.resize(dot);
    }
  }
  for (const auto& [key, out] :
       {std::pair{"from", &query.from_unix_nanos}, std::pair{"until", &query.until_unix_nanos}}) {
    PROFKIT_ASSIGN_OR_RETURN(const std::string* value, Single(params, key));
    Result<int64_t> time = ParseTime(value ? *value : "", now_unix_nanos);
    if (!time.ok()) return time.status().WithContext(key);
    *out = *time;
  }
  if (query.until_unix_nanos < query.from_unix_nanos) {
    return Status::InvalidInput("until: before from");
  }
  PROFKIT_ASSIGN_OR_RETURN(const std::string* rate, Single(params, "sampleRate"));
  if (rate != nullptr && !rate->empty()) {
    Result<int64_t> value = ParseInt(*rate);
    if (!value.ok() || *value <= 0 || *value > kMaxSampleRate) {
      return Status::InvalidInputf("sampleRate: {} is not an integer in 1..{}", Quoted(*rate),
                                   kMaxSampleRate);
    }
    query.sample_rate = *value;
  }
  PROFKIT_RETURN_IF_ERROR(Word(params, "spyName", &query.spy_name));
  PROFKIT_RETURN_IF_ERROR(Word(params, "units", &query.units));
  PROFKIT_RETURN_IF_ERROR(Word(params, "aggregationType", &query.aggregation_type));
  PROFKIT_RETURN_IF_ERROR(Word(params, "format", &query.format));
  return query;
}

}  // namespace profkit::pyroscope
