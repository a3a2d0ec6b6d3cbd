#include "profkit/metrics/line_protocol.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

namespace profkit::metrics {
namespace {

// The line-protocol scanner takes a backslash together with the byte after it, so a backslash
// cannot itself be escaped: a run of them directly before an escaped separator must be even, or
// the run's last one would pair with the escaping backslash and free the separator (`a\,b`
// would end a tag at the comma; found by tests/fuzz/line_protocol). An odd run there loses one
// backslash, and backslashes at the end are dropped, since they would escape the next separator.
void AppendEscaped(std::string& out, std::string_view text, std::string_view specials) {
  size_t backslashes = 0;
  for (char c : text) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    if (c == '\n' || c == '\r') c = ' ';
    const bool special = specials.find(c) != std::string_view::npos;
    out.append(special && backslashes % 2 == 1 ? backslashes - 1 : backslashes, '\\');
    backslashes = 0;
    if (special) out.push_back('\\');
    out.push_back(c);
  }
}

constexpr std::string_view kMeasurementSpecials = ", ";
constexpr std::string_view kKeySpecials = ",= ";

}  // namespace

std::string FormatLine(const Point& point) {
  std::string fields;
  for (const Field& field : point.fields) {
    std::string key;
    AppendEscaped(key, field.key, kKeySpecials);
    // Empty, or only backslashes: no key left to write.
    if (key.empty()) continue;
    std::string value;
    if (const auto* integer = std::get_if<int64_t>(&field.value)) {
      value = fmt::format("{}i", *integer);
    } else {
      const double real = std::get<double>(field.value);
      if (!std::isfinite(real)) continue;
      // The shortest text that reads back as the same double; "1" would also be a valid float.
      value = fmt::format("{}", real);
    }
    if (!fields.empty()) fields.push_back(',');
    fields += key;
    fields.push_back('=');
    fields += value;
  }
  if (fields.empty()) return "";

  std::vector<std::pair<std::string, std::string>> tags = point.tags;
  std::stable_sort(tags.begin(), tags.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string line;
  AppendEscaped(line, point.measurement, kMeasurementSpecials);
  for (const auto& [key, value] : tags) {
    std::string escaped_key, escaped_value;
    AppendEscaped(escaped_key, key, kKeySpecials);
    AppendEscaped(escaped_value, value, kKeySpecials);
    if (escaped_key.empty() || escaped_value.empty()) continue;
    line.push_back(',');
    line += escaped_key;
    line.push_back('=');
    line += escaped_value;
  }
  line.push_back(' ');
  line += fields;
  fmt::format_to(std::back_inserter(line), " {}\n", point.time_unix_nanos);
  return line;
}

}  // namespace profkit::metrics
