// The Prometheus text exposition format (version 0.0.4) of the agent's own counters, served on
// GET /metrics. Names follow Prometheus conventions: profkit_ prefix, _total for counters, the
// unit in the name (_bytes).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace profkit::agent {

enum class MetricType { kCounter, kGauge };

struct MetricFamily {
  std::string name;  // [a-zA-Z_:][a-zA-Z0-9_:]*
  MetricType type = MetricType::kCounter;
  std::string help;
  struct Sample {
    std::vector<std::pair<std::string, std::string>> labels;
    uint64_t value = 0;
  };
  std::vector<Sample> samples;
};

// One "# HELP", one "# TYPE" and one line per sample per family; label values escaped (\\, \",
// \n).
std::string PrometheusText(const std::vector<MetricFamily>& families);

}  // namespace profkit::agent
