#include "profkit/profile/pprof_builder.h"

#include <cassert>
#include <functional>
#include <tuple>
#include <utility>

#include "profkit/common/compression.h"
#include "profkit/profile/hashing.h"

namespace profkit::profile {

namespace pb = perftools::profiles;

size_t PprofBuilder::MappingKeyHash::operator()(const MappingKey& k) const noexcept {
  const auto& [start, limit, offset, filename, build_id, flags] = k;
  size_t seed = std::hash<uint64_t>()(start);
  HashCombine(seed, std::hash<uint64_t>()(limit));
  HashCombine(seed, std::hash<uint64_t>()(offset));
  HashCombine(seed, std::hash<int64_t>()(filename));
  HashCombine(seed, std::hash<int64_t>()(build_id));
  HashCombine(seed, flags);
  return seed;
}

size_t PprofBuilder::FunctionKeyHash::operator()(const FunctionKey& k) const noexcept {
  const auto& [name, system_name, filename, start_line] = k;
  size_t seed = std::hash<int64_t>()(name);
  HashCombine(seed, std::hash<int64_t>()(system_name));
  HashCombine(seed, std::hash<int64_t>()(filename));
  HashCombine(seed, std::hash<int64_t>()(start_line));
  return seed;
}

size_t PprofBuilder::LocationKeyHash::operator()(const LocationKey& k) const noexcept {
  size_t seed = std::hash<uint64_t>()(k.address);
  HashCombine(seed, std::hash<uint64_t>()(k.mapping_id));
  for (const auto& [function_id, line] : k.lines) {
    HashCombine(seed, std::hash<uint64_t>()(function_id));
    HashCombine(seed, std::hash<int64_t>()(line));
  }
  return seed;
}

PprofBuilder::PprofBuilder(ProfileHeader header) : sample_type_count_(header.sample_types.size()) {
  // pprof requires string_table[0] == "" (index 0 doubles as "unset").
  InternString("");
  for (const ValueType& vt : header.sample_types) {
    pb::ValueType* out = profile_.add_sample_type();
    out->set_type(InternString(vt.type));
    out->set_unit(InternString(vt.unit));
  }
  pb::ValueType* period_type = profile_.mutable_period_type();
  period_type->set_type(InternString(header.period_type.type));
  period_type->set_unit(InternString(header.period_type.unit));
  profile_.set_period(header.period);
  profile_.set_time_nanos(header.time_nanos);
  profile_.set_duration_nanos(header.duration_nanos);
}

int64_t PprofBuilder::InternString(std::string_view s) {
  if (auto it = strings_.find(s); it != strings_.end()) return it->second;
  const int64_t index = profile_.string_table_size();
  profile_.add_string_table(std::string(s));
  strings_.emplace(std::string(s), index);
  return index;
}

uint64_t PprofBuilder::AddMapping(const PprofMapping& mapping) {
  const uint32_t flags = (mapping.has_functions ? 1u : 0u) | (mapping.has_filenames ? 2u : 0u) |
                         (mapping.has_line_numbers ? 4u : 0u);
  MappingKey key{
      mapping.memory_start,           mapping.memory_limit,           mapping.file_offset,
      InternString(mapping.filename), InternString(mapping.build_id), flags};
  auto [it, inserted] = mappings_.try_emplace(key, profile_.mapping_size() + 1);
  if (!inserted) return it->second;
  pb::Mapping* out = profile_.add_mapping();
  out->set_id(it->second);
  out->set_memory_start(mapping.memory_start);
  out->set_memory_limit(mapping.memory_limit);
  out->set_file_offset(mapping.file_offset);
  out->set_filename(std::get<3>(key));
  out->set_build_id(std::get<4>(key));
  out->set_has_functions(mapping.has_functions);
  out->set_has_filenames(mapping.has_filenames);
  out->set_has_line_numbers(mapping.has_line_numbers);
  return it->second;
}

uint64_t PprofBuilder::InternFunction(const PprofLine& line) {
  FunctionKey key{InternString(line.function_name), InternString(line.system_name),
                  InternString(line.filename), line.start_line};
  auto [it, inserted] = functions_.try_emplace(key, profile_.function_size() + 1);
  if (!inserted) return it->second;
  pb::Function* out = profile_.add_function();
  out->set_id(it->second);
  out->set_name(std::get<0>(key));
  out->set_system_name(std::get<1>(key));
  out->set_filename(std::get<2>(key));
  out->set_start_line(line.start_line);
  return it->second;
}

uint64_t PprofBuilder::AddLocation(const PprofLocation& location) {
  assert(location.mapping_id <= static_cast<uint64_t>(profile_.mapping_size()));
  LocationKey key{location.mapping_id, location.address, {}};
  key.lines.reserve(location.lines.size());
  for (const PprofLine& line : location.lines)
    key.lines.emplace_back(InternFunction(line), line.line);
  auto [it, inserted] = locations_.try_emplace(std::move(key), profile_.location_size() + 1);
  if (!inserted) return it->second;
  pb::Location* out = profile_.add_location();
  out->set_id(it->second);
  out->set_mapping_id(location.mapping_id);
  out->set_address(location.address);
  for (const auto& [function_id, line_number] : it->first.lines) {
    pb::Line* line = out->add_line();
    line->set_function_id(function_id);
    line->set_line(line_number);
  }
  return it->second;
}

void PprofBuilder::AddSample(std::span<const uint64_t> location_ids,
                             std::span<const int64_t> values, std::span<const PprofLabel> labels) {
  assert(values.size() == sample_type_count_);
  for ([[maybe_unused]] uint64_t id : location_ids) {
    assert(id != 0 && id <= static_cast<uint64_t>(profile_.location_size()));
  }
  pb::Sample* sample = profile_.add_sample();
  sample->mutable_location_id()->Add(location_ids.begin(), location_ids.end());
  sample->mutable_value()->Add(values.begin(), values.end());
  for (const PprofLabel& label : labels) {
    pb::Label* out = sample->add_label();
    out->set_key(InternString(label.key));
    if (label.numeric) {
      out->set_num(label.num);
      out->set_num_unit(InternString(label.num_unit));
    } else {
      out->set_str(InternString(label.str));
    }
  }
}

std::string PprofBuilder::SerializeUncompressed() const { return profile_.SerializeAsString(); }

Result<std::string> PprofBuilder::SerializeGzip() const {
  return GzipCompress(SerializeUncompressed()).WithContext("compressing pprof profile");
}

}  // namespace profkit::profile
