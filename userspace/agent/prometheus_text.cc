#include "profkit/agent/prometheus_text.h"

#include <fmt/format.h>

namespace profkit::agent {
namespace {

std::string Escape(std::string_view value, bool help) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && !help) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string PrometheusText(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const MetricFamily& family : families) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family.name, Escape(family.help, true),
                       family.name, family.type == MetricType::kCounter ? "counter" : "gauge");
    for (const MetricFamily::Sample& sample : family.samples) {
      out += family.name;
      if (!sample.labels.empty()) {
        out += '{';
        for (size_t i = 0; i < sample.labels.size(); ++i) {
          if (i > 0) out += ',';
          out += fmt::format("{}=\"{}\"", sample.labels[i].first,
                             Escape(sample.labels[i].second, false));
        }
        out += '}';
      }
      out += fmt::format(" {}\n", sample.value);
    }
  }
  return out;
}

}  // namespace profkit::agent
