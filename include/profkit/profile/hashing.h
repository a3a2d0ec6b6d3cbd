// Hash functors for the cross-module sample types, so aggregation and caches key on values
// instead of building string keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include "profkit/profile/frame.h"

namespace profkit::profile {

// Mixes `value` into `seed` (the 64-bit variant of the boost::hash_combine recipe).
inline void HashCombine(size_t& seed, size_t value) {
  seed ^= value + 0x9e3779b97f4a7c15ULL + (seed << 12) + (seed >> 4);
}

struct ServiceKeyHash {
  size_t operator()(const ServiceKey& k) const noexcept {
    std::hash<std::string_view> h;
    size_t seed = h(k.service);
    HashCombine(seed, h(k.env));
    HashCombine(seed, h(k.version));
    HashCombine(seed, h(k.language));
    HashCombine(seed, h(k.runtime_version));
    for (const auto& [key, value] : k.tags) {
      HashCombine(seed, h(key));
      HashCombine(seed, h(value));
    }
    return seed;
  }
};

struct StackSampleHash {
  size_t operator()(const StackSample& s) const noexcept {
    size_t seed = (static_cast<size_t>(s.pid) << 32) | s.tid;
    HashCombine(seed, std::hash<std::string_view>()(s.thread_name));
    HashCombine(seed, s.truncated ? 1 : 0);
    const FrameHash frame_hash;
    for (const Frame& f : s.frames) HashCombine(seed, frame_hash(f));
    return seed;
  }
};

}  // namespace profkit::profile
