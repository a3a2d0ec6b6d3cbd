#include "profkit/metrics/pprof_sums.h"

#include <array>
#include <cctype>
#include <utility>

#include "profkit/common/compression.h"
#include "profkit/profile/pprof_builder.h"

namespace profkit::metrics {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

struct UnitName {
  std::string_view name;
  int64_t factor;
};

constexpr std::array kUnits = {
    UnitName{"nanoseconds", 1}, UnitName{"nanosecond", 1}, UnitName{"ns", 1},
    UnitName{"microseconds", 1'000}, UnitName{"microsecond", 1'000}, UnitName{"us", 1'000},
    UnitName{"\xc2\xb5s", 1'000}, UnitName{"milliseconds", 1'000'000},
    UnitName{"millisecond", 1'000'000}, UnitName{"ms", 1'000'000},
    UnitName{"seconds", kNanosPerSecond}, UnitName{"second", kNanosPerSecond},
    UnitName{"s", kNanosPerSecond}, UnitName{"minutes", 60 * kNanosPerSecond},
    UnitName{"minute", 60 * kNanosPerSecond}, UnitName{"m", 60 * kNanosPerSecond},
    UnitName{"hours", 3600 * kNanosPerSecond}, UnitName{"hour", 3600 * kNanosPerSecond},
    UnitName{"h", 3600 * kNanosPerSecond},
    UnitName{"bytes", 1}, UnitName{"byte", 1}, UnitName{"b", 1},
    UnitName{"kilobytes", int64_t{1} << 10}, UnitName{"kilobyte", int64_t{1} << 10},
    UnitName{"kb", int64_t{1} << 10}, UnitName{"kib", int64_t{1} << 10},
    UnitName{"megabytes", int64_t{1} << 20}, UnitName{"megabyte", int64_t{1} << 20},
    UnitName{"mb", int64_t{1} << 20}, UnitName{"mib", int64_t{1} << 20},
    UnitName{"gigabytes", int64_t{1} << 30}, UnitName{"gigabyte", int64_t{1} << 30},
    UnitName{"gb", int64_t{1} << 30}, UnitName{"gib", int64_t{1} << 30},
    UnitName{"terabytes", int64_t{1} << 40}, UnitName{"terabyte", int64_t{1} << 40},
    UnitName{"tb", int64_t{1} << 40}, UnitName{"tib", int64_t{1} << 40},
};

}  // namespace

int64_t UnitFactor(std::string_view unit) {
  std::string lower(unit);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const UnitName& known : kUnits) {
    if (known.name == lower) return known.factor;
  }
  return 1;
}

Result<SampleSums> SumPprof(std::string_view data, size_t max_decompressed_bytes) {
  std::string decompressed;
  if (DetectCompression(data) != Compression::kNone) {
    PROFKIT_ASSIGN_OR_RETURN(decompressed, Decompress(data, max_decompressed_bytes));
    data = decompressed;
  }
  PROFKIT_ASSIGN_OR_RETURN(perftools::profiles::Profile profile,
                           profile::ParsePprof(data, max_decompressed_bytes));
  SampleSums sums;
  // ParsePprof checked the string indexes and that every sample has one value per type.
  for (int t = 0; t < profile.sample_type_size(); ++t) {
    const auto& type = profile.sample_type(t);
    int64_t sum = 0;
    for (const auto& sample : profile.sample()) {
      if (__builtin_add_overflow(sum, sample.value(t), &sum)) {
        return Status::Errorf("pprof: the sum of sample type {:?} overflows",
                              profile.string_table(type.type()));
      }
    }
    if (__builtin_mul_overflow(sum, UnitFactor(profile.string_table(type.unit())), &sum)) {
      return Status::Errorf("pprof: the sum of sample type {:?} overflows in its base unit",
                            profile.string_table(type.type()));
    }
    // DataKit keys by type name alone; a repeated name adds up.
    int64_t& total = sums[profile.string_table(type.type())];
    if (__builtin_add_overflow(total, sum, &total)) {
      return Status::Errorf("pprof: sample type {:?} overflows", profile.string_table(type.type()));
    }
  }
  return sums;
}

}  // namespace profkit::metrics
