// Kernel symbolization from a kallsyms file (/proc/kallsyms). Immutable after Load, so it may be
// shared across threads for reading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "profkit/common/status.h"

namespace profkit::symbolize {

class KernelSymbolizer {
 public:
  // kallsyms has no sizes: an address above the last symbol of the kernel image or of a module
  // belongs to that symbol only this close to it (larger functions are rare at the very end).
  static constexpr uint64_t kMaxLastSymbolBytes = 64 << 10;
  // /proc/kallsyms is ~10 MiB on a distribution kernel with many modules.
  static constexpr size_t kMaxKallsymsBytes = 256 << 20;

  // Parses lines "ffffffff81000000 T _stext [module]"; keeps text symbols (t/T) only. All-zero
  // addresses (kptr_restrict, no CAP_SYSLOG) are an error saying so.
  static Result<KernelSymbolizer> Load(const std::string& kallsyms_path = "/proc/kallsyms");

  // Name (without the module) of the function containing `address`: the nearest text symbol at or
  // below it, within the same image (kernel or module). nullopt when none, and past the kernel's
  // _etext/_einittext end markers.
  std::optional<std::string> Symbolize(uint64_t address) const;

  size_t symbol_count() const { return symbols_.size(); }

 private:
  struct Symbol {
    uint64_t address;
    uint32_t name_offset;  // into names_, NUL-terminated
    uint32_t group;        // 0 for the kernel image, else one per [module]
  };

  std::vector<Symbol> symbols_;  // sorted by address
  std::string names_;
};

}  // namespace profkit::symbolize
