#include "symbol_table.h"

#include <algorithm>
#include <limits>

namespace profkit::symbolize {
namespace {

// A containing symbol may start before a smaller one nested in it (assembly with local function
// symbols); looking back this many entries finds it without a linear scan.
constexpr size_t kMaxNestedProbe = 8;

// Ranks >= this are zero-size symbols (see Builder::Add).
constexpr uint8_t kUnsizedRank = 2;

}  // namespace

bool SymbolTable::Builder::Add(uint64_t address, uint64_t size, std::string_view name, bool sized,
                               bool global) {
  if (names_.size() + name.size() + 1 > std::numeric_limits<uint32_t>::max()) return false;
  const auto offset = static_cast<uint32_t>(names_.size());
  names_.append(name);
  names_.push_back('\0');
  const uint8_t rank = static_cast<uint8_t>((sized ? 0 : kUnsizedRank) + (global ? 0 : 1));
  pending_.push_back({address, size, offset, rank});
  return true;
}

SymbolTable SymbolTable::Builder::Build() && {
  std::sort(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
    if (a.address != b.address) return a.address < b.address;
    return a.rank < b.rank;
  });
  SymbolTable table;
  table.entries_.reserve(pending_.size());
  for (size_t i = 0; i < pending_.size(); ++i) {
    const Pending& p = pending_[i];
    if (i > 0 && pending_[i - 1].address == p.address) continue;
    uint64_t size = p.size;
    if (p.rank >= kUnsizedRank) {
      // The next distinct address is the nearest following symbol.
      size_t next = i + 1;
      while (next < pending_.size() && pending_[next].address == p.address) ++next;
      if (next < pending_.size()) size = std::min(size, pending_[next].address - p.address);
    }
    size = std::min<uint64_t>(size, std::numeric_limits<uint32_t>::max());
    table.entries_.push_back({p.address, static_cast<uint32_t>(size), p.name_offset});
  }
  table.entries_.shrink_to_fit();
  // Names of dropped duplicates stay in the arena; compacting it would cost a copy for a few bytes.
  table.names_ = std::move(names_);
  table.names_.shrink_to_fit();
  pending_.clear();
  return table;
}

std::optional<std::string_view> SymbolTable::Find(uint64_t address) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](uint64_t a, const Entry& e) { return a < e.address; });
  for (size_t probe = 0; probe < kMaxNestedProbe && it != entries_.begin(); ++probe) {
    --it;
    if (address - it->address < it->size) return std::string_view(names_.data() + it->name_offset);
  }
  return std::nullopt;
}

}  // namespace profkit::symbolize
