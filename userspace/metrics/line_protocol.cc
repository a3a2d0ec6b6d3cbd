#include "profkit/metrics/line_protocol.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

namespace profkit::metrics {
namespace {

void AppendEscaped(std::string& out, std::string_view text, std::string_view specials) {
  // A backslash cannot itself be escaped, and one at the end would escape the next separator.
  while (!text.empty() && text.back() == '\\') text.remove_suffix(1);
  for (char c : text) {
    if (c == '\n' || c == '\r') c = ' ';
    if (specials.find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
}

constexpr std::string_view kMeasurementSpecials = ", ";
constexpr std::string_view kKeySpecials = ",= ";

}  // namespace

std::string FormatLine(const Point& point) {
  std::string fields;
  for (const Field& field : point.fields) {
    if (field.key.empty()) continue;
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
    AppendEscaped(fields, field.key, kKeySpecials);
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
    if (key.empty() || value.empty()) continue;
    line.push_back(',');
    AppendEscaped(line, key, kKeySpecials);
    line.push_back('=');
    AppendEscaped(line, value, kKeySpecials);
  }
  line.push_back(' ');
  line += fields;
  fmt::format_to(std::back_inserter(line), " {}\n", point.time_unix_nanos);
  return line;
}

}  // namespace profkit::metrics
