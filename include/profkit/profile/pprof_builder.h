// Builds pprof profiles (github.com/google/pprof format, vendor/pprof/profile.proto) from
// symbolized stacks, interning strings, functions, mappings and locations, and parses them back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pprof/profile.pb.h"
#include "profkit/common/status.h"

namespace profkit::profile {

struct ValueType {
  std::string type, unit;
};

struct ProfileHeader {
  std::vector<ValueType> sample_types;
  ValueType period_type;
  int64_t period = 0;
  int64_t time_nanos = 0;
  int64_t duration_nanos = 0;
};

struct PprofMapping {
  uint64_t memory_start = 0, memory_limit = 0, file_offset = 0;
  std::string filename, build_id;
  bool has_functions = false, has_filenames = false, has_line_numbers = false;
};

struct PprofLine {
  std::string function_name, system_name, filename;
  int64_t start_line = 0, line = 0;
};

struct PprofLocation {
  uint64_t mapping_id = 0;  // 0 = none
  uint64_t address = 0;
  std::vector<PprofLine> lines;  // innermost (inlined) first
};

struct PprofLabel {
  std::string key;
  std::string str;
  int64_t num = 0;
  std::string num_unit;
  bool numeric = false;  // num/num_unit are used instead of str
};

class PprofBuilder {
 public:
  explicit PprofBuilder(ProfileHeader header);

  // Identical mappings (all fields equal) share one id; ids start at 1.
  uint64_t AddMapping(const PprofMapping& mapping);
  // Identical locations share one id; ids start at 1. `mapping_id` must be 0 or a returned id.
  uint64_t AddLocation(const PprofLocation& location);
  // `location_ids` innermost first (pprof order), each returned by AddLocation;
  // values.size() == header.sample_types.size().
  void AddSample(std::span<const uint64_t> location_ids, std::span<const int64_t> values,
                 std::span<const PprofLabel> labels);

  size_t sample_count() const { return static_cast<size_t>(profile_.sample_size()); }

  std::string SerializeUncompressed() const;
  // The gzip-compressed profile: what goes to disk and to Dataway.
  Result<std::string> SerializeGzip() const;

 private:
  struct TransparentStringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>()(s);
    }
  };
  // (memory_start, memory_limit, file_offset, filename, build_id, flag bits)
  using MappingKey = std::tuple<uint64_t, uint64_t, uint64_t, int64_t, int64_t, uint32_t>;
  struct MappingKeyHash {
    size_t operator()(const MappingKey& k) const noexcept;
  };
  // (name, system_name, filename, start_line)
  using FunctionKey = std::tuple<int64_t, int64_t, int64_t, int64_t>;
  struct FunctionKeyHash {
    size_t operator()(const FunctionKey& k) const noexcept;
  };
  struct LocationKey {
    uint64_t mapping_id = 0;
    uint64_t address = 0;
    std::vector<std::pair<uint64_t, int64_t>> lines;  // (function id, line)
    bool operator==(const LocationKey&) const = default;
  };
  struct LocationKeyHash {
    size_t operator()(const LocationKey& k) const noexcept;
  };

  int64_t InternString(std::string_view s);
  uint64_t InternFunction(const PprofLine& line);

  size_t sample_type_count_;
  perftools::profiles::Profile profile_;
  std::unordered_map<std::string, int64_t, TransparentStringHash, std::equal_to<>> strings_;
  std::unordered_map<MappingKey, uint64_t, MappingKeyHash> mappings_;
  std::unordered_map<FunctionKey, uint64_t, FunctionKeyHash> functions_;
  std::unordered_map<LocationKey, uint64_t, LocationKeyHash> locations_;
};

// Parses pprof bytes, gzip-compressed or raw, into the message and checks that every string index
// and id reference is in range and every sample has one value per sample type, so callers can
// index without checks. The decompressed profile may be at most `max_decompressed_bytes`.
Result<perftools::profiles::Profile> ParsePprof(std::string_view bytes,
                                                size_t max_decompressed_bytes);

}  // namespace profkit::profile
