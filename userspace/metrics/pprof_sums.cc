#include "profkit/metrics/pprof_sums.h"
#include "profkit/common/quoted.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>

#include <array>
#include <cctype>
#include <climits>
#include <utility>
#include <vector>

#include "profkit/common/compression.h"

namespace profkit::metrics {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

struct UnitName {
  std::string_view name;
  int64_t factor;
};

constexpr std::array kUnits = {
    UnitName{"nanoseconds", 1},
    UnitName{"nanosecond", 1},
    UnitName{"ns", 1},
    UnitName{"microseconds", 1'000},
    UnitName{"microsecond", 1'000},
    UnitName{"us", 1'000},
    UnitName{"\xc2\xb5s", 1'000},
    UnitName{"milliseconds", 1'000'000},
    UnitName{"millisecond", 1'000'000},
    UnitName{"ms", 1'000'000},
    UnitName{"seconds", kNanosPerSecond},
    UnitName{"second", kNanosPerSecond},
    UnitName{"s", kNanosPerSecond},
    UnitName{"minutes", 60 * kNanosPerSecond},
    UnitName{"minute", 60 * kNanosPerSecond},
    UnitName{"m", 60 * kNanosPerSecond},
    UnitName{"hours", 3600 * kNanosPerSecond},
    UnitName{"hour", 3600 * kNanosPerSecond},
    UnitName{"h", 3600 * kNanosPerSecond},
    UnitName{"bytes", 1},
    UnitName{"byte", 1},
    UnitName{"b", 1},
    UnitName{"kilobytes", int64_t{1} << 10},
    UnitName{"kilobyte", int64_t{1} << 10},
    UnitName{"kb", int64_t{1} << 10},
    UnitName{"kib", int64_t{1} << 10},
    UnitName{"megabytes", int64_t{1} << 20},
    UnitName{"megabyte", int64_t{1} << 20},
    UnitName{"mb", int64_t{1} << 20},
    UnitName{"mib", int64_t{1} << 20},
    UnitName{"gigabytes", int64_t{1} << 30},
    UnitName{"gigabyte", int64_t{1} << 30},
    UnitName{"gb", int64_t{1} << 30},
    UnitName{"gib", int64_t{1} << 30},
    UnitName{"terabytes", int64_t{1} << 40},
    UnitName{"terabyte", int64_t{1} << 40},
    UnitName{"tb", int64_t{1} << 40},
    UnitName{"tib", int64_t{1} << 40},
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

namespace {

// Only what the sums need is read from the protobuf (sample types, sample values, string table):
// a full ParsePprof allocates every location and function and costs ~1 ms per tracer upload on
// the ingest path, this scan a fraction of that.
class PprofScan {
 public:
  explicit PprofScan(std::string_view data)
      : data_(data),
        in_(reinterpret_cast<const uint8_t*>(data.data()), static_cast<int>(data.size())) {}

  Result<SampleSums> Run() {
    while (const uint32_t tag = in_.ReadTag()) {
      const uint32_t field = tag >> 3, wire_type = tag & 7;
      if (wire_type == kLengthDelimited && (field == 1 || field == 2 || field == 6)) {
        uint32_t length = 0;
        if (!in_.ReadVarint32(&length)) return Truncated();
        if (field == 6) {
          const int at = in_.CurrentPosition();
          if (!in_.Skip(static_cast<int>(length))) return Truncated();
          strings_.push_back(data_.substr(static_cast<size_t>(at), length));
          continue;
        }
        // PushLimit ignores a limit past the enclosing one, so a cut message must be caught here.
        if (length > static_cast<uint32_t>(in_.BytesUntilLimit())) return Truncated();
        const auto limit = in_.PushLimit(static_cast<int>(length));
        PROFKIT_RETURN_IF_ERROR(field == 1 ? ValueType() : Sample());
        if (in_.BytesUntilLimit() != 0) return Truncated();
        in_.PopLimit(limit);
      } else if (!SkipField(wire_type)) {
        return Truncated();
      }
    }
    if (in_.CurrentPosition() != static_cast<int>(data_.size())) return Truncated();
    return Sums();
  }

 private:
  static constexpr uint32_t kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

  static Status Truncated() { return Status::InvalidInput("pprof: invalid protobuf encoding"); }

  bool SkipField(uint32_t wire_type) {
    uint64_t ignored = 0;
    uint32_t length = 0;
    switch (wire_type) {
      case kVarint:
        return in_.ReadVarint64(&ignored);
      case kFixed64:
        return in_.Skip(8);
      case kLengthDelimited:
        return in_.ReadVarint32(&length) && in_.Skip(static_cast<int>(length));
      case kFixed32:
        return in_.Skip(4);
      default:
        return false;  // groups are not used by profile.proto
    }
  }

  Status ValueType() {
    uint64_t type = 0, unit = 0;
    while (const uint32_t tag = in_.ReadTag()) {
      const uint32_t field = tag >> 3, wire_type = tag & 7;
      if (wire_type == kVarint && (field == 1 || field == 2)) {
        if (!in_.ReadVarint64(field == 1 ? &type : &unit)) return Truncated();
      } else if (!SkipField(wire_type)) {
        return Truncated();
      }
    }
    types_.emplace_back(type, unit);
    return Status::Ok();
  }

  Status AddValue(size_t index, uint64_t raw) {
    if (index >= sums_.size()) sums_.resize(index + 1, 0);
    if (__builtin_add_overflow(sums_[index], static_cast<int64_t>(raw), &sums_[index])) {
      return Status::InvalidInputf("pprof: the sum of sample type #{} overflows", index);
    }
    return Status::Ok();
  }

  Status Sample() {
    size_t values = 0;
    while (const uint32_t tag = in_.ReadTag()) {
      const uint32_t field = tag >> 3, wire_type = tag & 7;
      uint64_t raw = 0;
      if (field == 2 && wire_type == kVarint) {
        if (!in_.ReadVarint64(&raw)) return Truncated();
        PROFKIT_RETURN_IF_ERROR(AddValue(values++, raw));
      } else if (field == 2 && wire_type == kLengthDelimited) {  // packed, as everyone writes it
        uint32_t length = 0;
        if (!in_.ReadVarint32(&length) || length > static_cast<uint32_t>(in_.BytesUntilLimit())) {
          return Truncated();
        }
        const auto limit = in_.PushLimit(static_cast<int>(length));
        while (in_.BytesUntilLimit() > 0) {
          if (!in_.ReadVarint64(&raw)) return Truncated();
          PROFKIT_RETURN_IF_ERROR(AddValue(values++, raw));
        }
        in_.PopLimit(limit);
      } else if (!SkipField(wire_type)) {
        return Truncated();
      }
    }
    if (samples_ == 0) value_count_ = values;
    if (values != value_count_) mismatched_samples_ = true;
    ++samples_;
    return Status::Ok();
  }

  Result<SampleSums> Sums() {
    if (strings_.empty() || !strings_[0].empty()) {
      return Status::InvalidInput("pprof: string_table[0] must be the empty string");
    }
    if (samples_ > 0 && (mismatched_samples_ || value_count_ != types_.size())) {
      return Status::InvalidInputf(
          "pprof: malformed, samples do not all have one value for each of the "
          "{} sample types",
          types_.size());
    }
    SampleSums sums;
    for (size_t t = 0; t < types_.size(); ++t) {
      const auto [type, unit] = types_[t];
      if (type >= strings_.size() || unit >= strings_.size()) {
        return Status::InvalidInputf("pprof: sample type #{} names a string out of range", t);
      }
      int64_t sum = t < sums_.size() ? sums_[t] : 0;
      const std::string_view name = strings_[type];
      if (__builtin_mul_overflow(sum, UnitFactor(strings_[unit]), &sum)) {
        return Status::InvalidInputf("pprof: the sum of sample type {} overflows in its base unit",
                                     Quoted(name));
      }
      // DataKit keys by type name alone; a repeated name adds up.
      int64_t& total = sums[std::string(name)];
      if (__builtin_add_overflow(total, sum, &total)) {
        return Status::InvalidInputf("pprof: sample type {} overflows", Quoted(name));
      }
    }
    return sums;
  }

  const std::string_view data_;
  google::protobuf::io::CodedInputStream in_;
  std::vector<std::pair<uint64_t, uint64_t>> types_;  // string indexes of (type, unit)
  std::vector<std::string_view> strings_;             // into data_
  std::vector<int64_t> sums_;                         // by sample type index
  size_t samples_ = 0, value_count_ = 0;
  bool mismatched_samples_ = false;
};

}  // namespace

Result<SampleSums> SumPprof(std::string_view data, size_t max_decompressed_bytes) {
  std::string decompressed;
  if (DetectCompression(data) != Compression::kNone) {
    PROFKIT_ASSIGN_OR_RETURN(decompressed, Decompress(data, max_decompressed_bytes));
    data = decompressed;
  } else if (data.size() > max_decompressed_bytes) {
    return Status::TooLargef("pprof: {} bytes exceed the limit of {} bytes", data.size(),
                             max_decompressed_bytes);
  }
  // CodedInputStream takes an int size.
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return Status::TooLargef("pprof: {} bytes is too large to parse", data.size());
  }
  return PprofScan(data).Run();
}

}  // namespace profkit::metrics
