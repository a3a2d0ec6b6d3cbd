// First-fit allocation of index ranges in a fixed-size BPF array (the unwind rows and pages):
// freed ranges coalesce with their neighbours. Not thread-safe (the table builder's thread owns
// it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>

namespace profkit::unwind {

class RangeAllocator {
 public:
  explicit RangeAllocator(uint32_t capacity);

  // The first index of `count` free consecutive entries, now used; nullopt when no gap fits.
  std::optional<uint32_t> Allocate(uint32_t count);
  // Gives back [first, first + count), which Allocate returned.
  void Free(uint32_t first, uint32_t count);

  uint32_t capacity() const { return capacity_; }
  uint64_t used() const { return used_; }

 private:
  uint32_t capacity_;
  uint64_t used_ = 0;
  std::map<uint32_t, uint32_t> free_;  // first -> count, coalesced
};

}  // namespace profkit::unwind
