// Builds small Go-like pprof profiles for the pull tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "profkit/profile/pprof_builder.h"

namespace profkit::pull::testing {

struct TestSample {
  std::vector<std::string> functions;  // innermost first
  std::vector<int64_t> values;
  std::string label;  // "" or a "k=v" string label
};

inline std::string BuildProfile(const std::vector<std::string>& sample_types,
                                const std::vector<TestSample>& samples, int64_t time_nanos) {
  profile::ProfileHeader header;
  for (const std::string& type : sample_types) header.sample_types.push_back({type, "count"});
  header.time_nanos = time_nanos;
  profile::PprofBuilder builder(header);
  for (const TestSample& sample : samples) {
    std::vector<uint64_t> ids;
    for (const std::string& function : sample.functions) {
      profile::PprofLocation location;
      location.lines.push_back({function, function, "main.go", 0, 10});
      ids.push_back(builder.AddLocation(location));
    }
    std::vector<profile::PprofLabel> labels;
    if (!sample.label.empty()) {
      const size_t eq = sample.label.find('=');
      labels.push_back({sample.label.substr(0, eq), sample.label.substr(eq + 1)});
    }
    builder.AddSample(ids, sample.values, labels);
  }
  return builder.SerializeUncompressed();
}

}  // namespace profkit::pull::testing
