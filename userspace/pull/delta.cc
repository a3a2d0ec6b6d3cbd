#include "profkit/pull/delta.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>

namespace profkit::pull {

using config::GoProfileType;

namespace {

namespace pb = perftools::profiles;

// Ids are validated by ParsePprof; these lookups only need to be fast.
class ProfileIndex {
 public:
  explicit ProfileIndex(const pb::Profile& p) : p_(p) {
    for (int i = 0; i < p.function_size(); ++i) functions_[p.function(i).id()] = i;
    for (int i = 0; i < p.location_size(); ++i) locations_[p.location(i).id()] = i;
  }

  std::string_view String(int64_t index) const {
    return index >= 0 && index < p_.string_table_size() ? std::string_view(p_.string_table(index))
                                                        : std::string_view();
  }

  // Identifies a sample's stack and labels independently of the profile's ids, so that the same
  // stack matches across two downloads.
  std::string SampleKey(const pb::Sample& sample) const {
    std::string key;
    for (const uint64_t location_id : sample.location_id()) {
      const auto location = locations_.find(location_id);
      if (location == locations_.end()) {
        key += "?;";
        continue;
      }
      const pb::Location& loc = p_.location(location->second);
      if (loc.line_size() == 0) {
        key += "@" + std::to_string(loc.address());
      }
      for (const pb::Line& line : loc.line()) {
        const auto function = functions_.find(line.function_id());
        if (function != functions_.end()) {
          const pb::Function& f = p_.function(function->second);
          key += String(f.name());
          key += '\0';
          key += String(f.filename());
        }
        key += ':' + std::to_string(line.line()) + '|';
      }
      key += ';';
    }
    std::vector<std::string> labels;
    for (const pb::Label& label : sample.label()) {
      std::string text(String(label.key()));
      text += '\0';
      if (label.str() != 0) {
        text += String(label.str());
      } else {
        text += std::to_string(label.num()) + std::string(String(label.num_unit()));
      }
      labels.push_back(std::move(text));
    }
    std::sort(labels.begin(), labels.end());
    for (const std::string& label : labels) key += '\n' + label;
    return key;
  }

 private:
  const pb::Profile& p_;
  std::unordered_map<uint64_t, int> functions_, locations_;
};

std::vector<std::string> SampleTypeNames(const pb::Profile& p) {
  std::vector<std::string> names;
  for (const pb::ValueType& type : p.sample_type()) names.push_back(p.string_table(type.type()));
  return names;
}

}  // namespace

std::vector<std::string> DeltaSampleTypes(GoProfileType type) {
  switch (type) {
    case GoProfileType::kHeap:
    case GoProfileType::kAllocs:
      return {"alloc_objects", "alloc_space"};
    case GoProfileType::kMutex:
    case GoProfileType::kBlock:
      return {"contentions", "delay"};
    case GoProfileType::kCpu:
    case GoProfileType::kGoroutine:
      break;
  }
  return {};
}

Result<pb::Profile> ComputeDelta(const pb::Profile& previous, const pb::Profile& current,
                                 const std::vector<std::string>& delta_types, DeltaStats* stats) {
  const std::vector<std::string> types = SampleTypeNames(current);
  if (types != SampleTypeNames(previous)) {
    return Status::InvalidInput("delta: the sample types changed between two pulls");
  }
  std::vector<bool> is_delta(types.size(), false);
  for (size_t i = 0; i < types.size(); ++i) {
    is_delta[i] = std::find(delta_types.begin(), delta_types.end(), types[i]) != delta_types.end();
  }

  std::unordered_map<std::string, std::vector<int64_t>> previous_sums;
  const ProfileIndex previous_index(previous);
  for (const pb::Sample& sample : previous.sample()) {
    auto& sums = previous_sums[previous_index.SampleKey(sample)];
    sums.resize(types.size(), 0);
    for (size_t i = 0; i < types.size(); ++i) sums[i] += sample.value(static_cast<int>(i));
  }

  pb::Profile out = current;
  out.clear_sample();
  std::unordered_map<std::string, int> out_index;  // key → index in out.sample
  std::vector<std::string> out_keys;
  const ProfileIndex current_index(current);
  for (const pb::Sample& sample : current.sample()) {
    std::string key = current_index.SampleKey(sample);
    const auto [it, inserted] = out_index.try_emplace(key, out.sample_size());
    if (inserted) {
      *out.add_sample() = sample;
      out_keys.push_back(std::move(key));
      continue;
    }
    pb::Sample* merged = out.mutable_sample(it->second);
    for (size_t i = 0; i < types.size(); ++i) {
      const int index = static_cast<int>(i);
      merged->set_value(index, merged->value(index) + sample.value(index));
    }
  }

  pb::Profile result = out;
  result.clear_sample();
  for (int s = 0; s < out.sample_size(); ++s) {
    pb::Sample sample = out.sample(s);
    const auto prev = previous_sums.find(out_keys[static_cast<size_t>(s)]);
    bool clamped = false, all_zero = true;
    for (size_t i = 0; i < types.size(); ++i) {
      const int index = static_cast<int>(i);
      int64_t value = sample.value(index);
      if (is_delta[i] && prev != previous_sums.end()) {
        value -= prev->second[i];
        if (value < 0) {
          value = 0;
          clamped = true;
        }
      }
      sample.set_value(index, value);
      all_zero = all_zero && value == 0;
    }
    if (clamped) ++stats->clamped_samples;
    if (!all_zero) *result.add_sample() = std::move(sample);
  }
  result.set_time_nanos(current.time_nanos());
  result.set_duration_nanos(std::max<int64_t>(0, current.time_nanos() - previous.time_nanos()));
  return result;
}

std::optional<int64_t> SumSampleType(const pb::Profile& profile, const std::string& type) {
  for (int i = 0; i < profile.sample_type_size(); ++i) {
    if (profile.string_table(profile.sample_type(i).type()) != type) continue;
    int64_t sum = 0;
    for (const pb::Sample& sample : profile.sample()) sum += sample.value(i);
    return sum;
  }
  return std::nullopt;
}

}  // namespace profkit::pull
