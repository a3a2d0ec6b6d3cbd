#include "profkit/record/target_filter.h"

namespace profkit::record {
namespace {

// Process trees are shallow; the bound only guards against a parent cycle from pid reuse.
constexpr int kMaxAncestry = 64;

}  // namespace

TargetFilter::TargetFilter(std::vector<uint32_t> targets,
                           std::function<uint32_t(uint32_t)> parent_of)
    : targets_(targets.begin(), targets.end()), parent_of_(std::move(parent_of)) {}

void TargetFilter::AddTarget(uint32_t pid) {
  targets_.insert(pid);
  decisions_.clear();
}

bool TargetFilter::Matches(uint32_t pid) {
  auto cached = decisions_.find(pid);
  if (cached != decisions_.end()) return cached->second;
  bool matches = false;
  uint32_t current = pid;
  for (int depth = 0; depth < kMaxAncestry && current > 1; ++depth) {
    if (targets_.contains(current)) {
      matches = true;
      break;
    }
    current = parent_of_(current);
  }
  // An unknown parent (0) may become known later (its fork event is still in flight): only
  // positive answers and answers reaching init are final.
  if (matches || current == 1) decisions_.emplace(pid, matches);
  return matches;
}

}  // namespace profkit::record
