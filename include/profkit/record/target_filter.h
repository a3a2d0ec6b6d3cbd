// Decides whether a sampled pid belongs to a recording: a target itself or any descendant.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace profkit::record {

class TargetFilter {
 public:
  // `parent_of` returns a pid's parent, 0 when unknown.
  TargetFilter(std::vector<uint32_t> targets, std::function<uint32_t(uint32_t)> parent_of);

  void AddTarget(uint32_t pid);
  bool Matches(uint32_t pid);

 private:
  std::unordered_set<uint32_t> targets_;
  std::function<uint32_t(uint32_t)> parent_of_;
  std::unordered_map<uint32_t, bool> decisions_;
};

}  // namespace profkit::record
