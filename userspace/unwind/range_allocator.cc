#include "profkit/unwind/range_allocator.h"

#include <iterator>

namespace profkit::unwind {

RangeAllocator::RangeAllocator(uint32_t capacity) : capacity_(capacity) {
  if (capacity > 0) free_[0] = capacity;
}

std::optional<uint32_t> RangeAllocator::Allocate(uint32_t count) {
  if (count == 0) return std::nullopt;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < count) continue;
    const uint32_t first = it->first;
    const uint32_t left = it->second - count;
    free_.erase(it);
    if (left > 0) free_[first + count] = left;
    used_ += count;
    return first;
  }
  return std::nullopt;
}

void RangeAllocator::Free(uint32_t first, uint32_t count) {
  if (count == 0) return;
  auto [it, inserted] = free_.emplace(first, count);
  // Coalesce with the following and the preceding free range.
  if (auto next = std::next(it); next != free_.end() && first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
  used_ -= count;
}

}  // namespace profkit::unwind
