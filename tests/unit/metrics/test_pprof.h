// pprof files shaped like the tracers' ones, built in the test, and ways to compress them.
#pragma once

#include <lz4frame.h>
#include <zstd.h>

#include <string>
#include <utility>
#include <vector>

#include "profkit/profile/pprof_builder.h"

namespace profkit::metrics::testing {

// One sample type per entry; each total is split over two stacks so sums are really summed.
inline std::string BuildPprof(const std::vector<std::pair<profile::ValueType, int64_t>>& totals) {
  profile::ProfileHeader header{.period_type = {"cpu", "nanoseconds"}, .period = 10'000'000};
  for (const auto& [type, total] : totals) header.sample_types.push_back(type);
  profile::PprofBuilder builder(header);
  const uint64_t a =
      builder.AddLocation({.lines = {{.function_name = "handle", .filename = "app.py"}}});
  const uint64_t b =
      builder.AddLocation({.lines = {{.function_name = "work", .filename = "app.py"}}});
  std::vector<int64_t> first, second;
  for (const auto& [type, total] : totals) {
    first.push_back(total / 3);
    second.push_back(total - total / 3);
  }
  const uint64_t stack_a[] = {a}, stack_b[] = {b, a};
  builder.AddSample(stack_a, first, {});
  builder.AddSample(stack_b, second, {});
  return builder.SerializeUncompressed();
}

inline std::string Zstd(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3));
  return out;
}

inline std::string Lz4(const std::string& data) {
  std::string out(LZ4F_compressFrameBound(data.size(), nullptr), '\0');
  out.resize(LZ4F_compressFrame(out.data(), out.size(), data.data(), data.size(), nullptr));
  return out;
}

}  // namespace profkit::metrics::testing
