// ParsePprof: pprof bytes from outside (tracers, pullers, files) are untrusted, so besides the
// protobuf wire format every cross reference is checked once here.
#include <climits>
#include <unordered_set>

#include "profkit/common/compression.h"
#include "profkit/profile/pprof_builder.h"

namespace profkit::profile {
namespace {

namespace pb = perftools::profiles;

class Validator {
 public:
  explicit Validator(const pb::Profile& p) : p_(p) {}

  Status Run() {
    if (p_.string_table_size() == 0 || !p_.string_table(0).empty()) {
      return Status::InvalidInput("string_table[0] must be the empty string");
    }
    for (const pb::ValueType& vt : p_.sample_type()) {
      PROFKIT_RETURN_IF_ERROR(CheckValueType(vt, "sample_type"));
    }
    PROFKIT_RETURN_IF_ERROR(CheckValueType(p_.period_type(), "period_type"));
    PROFKIT_RETURN_IF_ERROR(CheckString(p_.drop_frames(), "drop_frames"));
    PROFKIT_RETURN_IF_ERROR(CheckString(p_.keep_frames(), "keep_frames"));
    PROFKIT_RETURN_IF_ERROR(CheckString(p_.default_sample_type(), "default_sample_type"));
    for (int64_t comment : p_.comment()) PROFKIT_RETURN_IF_ERROR(CheckString(comment, "comment"));

    std::unordered_set<uint64_t> mapping_ids;
    for (const pb::Mapping& m : p_.mapping()) {
      PROFKIT_RETURN_IF_ERROR(CheckNewId(m.id(), mapping_ids, "mapping"));
      PROFKIT_RETURN_IF_ERROR(CheckString(m.filename(), "mapping filename"));
      PROFKIT_RETURN_IF_ERROR(CheckString(m.build_id(), "mapping build_id"));
    }
    std::unordered_set<uint64_t> function_ids;
    for (const pb::Function& f : p_.function()) {
      PROFKIT_RETURN_IF_ERROR(CheckNewId(f.id(), function_ids, "function"));
      PROFKIT_RETURN_IF_ERROR(CheckString(f.name(), "function name"));
      PROFKIT_RETURN_IF_ERROR(CheckString(f.system_name(), "function system_name"));
      PROFKIT_RETURN_IF_ERROR(CheckString(f.filename(), "function filename"));
    }
    std::unordered_set<uint64_t> location_ids;
    for (const pb::Location& l : p_.location()) {
      PROFKIT_RETURN_IF_ERROR(CheckNewId(l.id(), location_ids, "location"));
      if (l.mapping_id() != 0 && !mapping_ids.contains(l.mapping_id())) {
        return Status::InvalidInputf("location {} refers to unknown mapping {}", l.id(),
                                     l.mapping_id());
      }
      for (const pb::Line& line : l.line()) {
        if (!function_ids.contains(line.function_id())) {
          return Status::InvalidInputf("location {} refers to unknown function {}", l.id(),
                                       line.function_id());
        }
      }
    }
    for (int i = 0; i < p_.sample_size(); ++i) {
      const pb::Sample& s = p_.sample(i);
      if (s.value_size() != p_.sample_type_size()) {
        return Status::InvalidInputf("sample {} has {} values for {} sample types", i,
                                     s.value_size(), p_.sample_type_size());
      }
      for (uint64_t id : s.location_id()) {
        if (!location_ids.contains(id)) {
          return Status::InvalidInputf("sample {} refers to unknown location {}", i, id);
        }
      }
      for (const pb::Label& label : s.label()) {
        PROFKIT_RETURN_IF_ERROR(CheckString(label.key(), "label key"));
        PROFKIT_RETURN_IF_ERROR(CheckString(label.str(), "label str"));
        PROFKIT_RETURN_IF_ERROR(CheckString(label.num_unit(), "label num_unit"));
      }
    }
    return Status::Ok();
  }

 private:
  Status CheckString(int64_t index, std::string_view what) const {
    if (index < 0 || index >= p_.string_table_size()) {
      return Status::InvalidInputf("{}: string index {} out of range (table has {})", what, index,
                                   p_.string_table_size());
    }
    return Status::Ok();
  }

  Status CheckValueType(const pb::ValueType& vt, std::string_view what) const {
    PROFKIT_RETURN_IF_ERROR(CheckString(vt.type(), what));
    return CheckString(vt.unit(), what);
  }

  static Status CheckNewId(uint64_t id, std::unordered_set<uint64_t>& seen, std::string_view what) {
    if (id == 0) return Status::InvalidInputf("{} with id 0", what);
    if (!seen.insert(id).second) return Status::InvalidInputf("duplicate {} id {}", what, id);
    return Status::Ok();
  }

  const pb::Profile& p_;
};

}  // namespace

Result<pb::Profile> ParsePprof(std::string_view bytes, size_t max_decompressed_bytes) {
  std::string decompressed;
  if (DetectCompression(bytes) == Compression::kGzip) {
    PROFKIT_ASSIGN_OR_RETURN(decompressed, GzipDecompress(bytes, max_decompressed_bytes));
    bytes = decompressed;
  } else if (bytes.size() > max_decompressed_bytes) {
    return Status::TooLargef("pprof: {} bytes exceeds the limit of {} bytes", bytes.size(),
                             max_decompressed_bytes);
  }
  // The protobuf parser takes an int size.
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return Status::TooLargef("pprof: {} bytes is too large to parse", bytes.size());
  }
  pb::Profile profile;
  if (!profile.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::InvalidInput("pprof: invalid protobuf encoding");
  }
  PROFKIT_RETURN_IF_ERROR(Validator(profile).Run().WithContext("pprof"));
  return profile;
}

}  // namespace profkit::profile
