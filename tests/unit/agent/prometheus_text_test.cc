#include "profkit/agent/prometheus_text.h"

#include <gtest/gtest.h>

namespace profkit::agent {
namespace {

TEST(PrometheusTextTest, FamiliesSamplesAndEscaping) {
  const std::vector<MetricFamily> families = {
      {.name = "profkit_samples_total",
       .type = MetricType::kCounter,
       .help = "eBPF samples\\decoded\nsecond line",
       .samples = {{.value = 42}}},
      {.name = "profkit_push_uploads_total",
       .type = MetricType::kCounter,
       .help = "by status",
       .samples = {{.labels = {{"status", "2xx"}}, .value = 1},
                   {.labels = {{"status", "a\"b\\c\nd"}, {"port", "9"}}, .value = 0}}},
      {.name = "profkit_queue_bytes", .type = MetricType::kGauge, .help = "h", .samples = {}},
  };
  EXPECT_EQ(PrometheusText(families),
            "# HELP profkit_samples_total eBPF samples\\\\decoded\\nsecond line\n"
            "# TYPE profkit_samples_total counter\n"
            "profkit_samples_total 42\n"
            "# HELP profkit_push_uploads_total by status\n"
            "# TYPE profkit_push_uploads_total counter\n"
            "profkit_push_uploads_total{status=\"2xx\"} 1\n"
            "profkit_push_uploads_total{status=\"a\\\"b\\\\c\\nd\",port=\"9\"} 0\n"
            "# HELP profkit_queue_bytes h\n"
            "# TYPE profkit_queue_bytes gauge\n");
}

}  // namespace
}  // namespace profkit::agent
