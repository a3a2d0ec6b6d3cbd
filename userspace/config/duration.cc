#include "profkit/config/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace profkit::config {
namespace {

struct Unit {
  std::string_view name;
  int64_t nanoseconds;
};

// Go's units; "µs" is U+00B5 (micro sign) and "μs" U+03BC (Greek mu), both accepted by Go.
constexpr std::array<Unit, 8> kUnits = {{
    {"ns", 1},
    {"us", 1'000},
    {"\u00b5s", 1'000},
    {"\u03bcs", 1'000},
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
}};

// Fraction digits beyond nanosecond precision of the largest unit cannot change the result.
constexpr int kMaxFractionDigits = 13;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  const auto invalid = [&](std::string_view why) {
    return Status::InvalidInputf("invalid duration \"{}\": {}", text, why);
  };
  if (text.empty()) return invalid("empty");
  if (text[0] == '-') return invalid("negative durations are not allowed");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    // Integer part: accumulated as unsigned, overflow checked once the unit is known.
    uint64_t whole = 0;
    bool whole_overflow = false;
    const size_t number_start = i;
    for (; i < text.size() && IsDigit(text[i]); ++i) {
      if (whole > (std::numeric_limits<uint64_t>::max() - 9) / 10) whole_overflow = true;
      whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
    }
    uint64_t fraction = 0;
    uint64_t fraction_scale = 1;
    bool has_fraction_digits = false;
    if (i < text.size() && text[i] == '.') {
      ++i;
      for (int digits = 0; i < text.size() && IsDigit(text[i]); ++i, ++digits) {
        has_fraction_digits = true;
        if (digits >= kMaxFractionDigits) continue;
        fraction = fraction * 10 + static_cast<uint64_t>(text[i] - '0');
        fraction_scale *= 10;
      }
    }
    if (i == number_start || (text[number_start] == '.' && !has_fraction_digits)) {
      return invalid(fmt::format("expected a number at offset {}", number_start));
    }
    const size_t unit_start = i;
    while (i < text.size() && !IsDigit(text[i]) && text[i] != '.') ++i;
    const std::string_view unit_name = text.substr(unit_start, i - unit_start);
    if (unit_name.empty()) {
      return invalid("missing unit (one of ns, us, ms, s, m, h), e.g. \"10s\"");
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (u.name == unit_name) unit = &u;
    }
    if (unit == nullptr) return invalid(fmt::format("unknown unit \"{}\"", unit_name));
    const uint64_t unit_ns = static_cast<uint64_t>(unit->nanoseconds);
    if (whole_overflow || whole > static_cast<uint64_t>(kMax) / unit_ns) {
      return invalid("overflows the largest duration (about 292 years)");
    }
    // fraction < fraction_scale <= 10^13 and unit_ns <= 3.6e12: compute in 128 bits.
    const auto fraction_ns =
        static_cast<uint64_t>(static_cast<unsigned __int128>(fraction) * unit_ns / fraction_scale);
    const uint64_t term = whole * unit_ns + fraction_ns;
    if (term > static_cast<uint64_t>(kMax - total)) {
      return invalid("overflows the largest duration (about 292 years)");
    }
    total += static_cast<int64_t>(term);
  }
  return std::chrono::nanoseconds(total);
}

}  // namespace profkit::config
