// Call frame information (CFI) lookups through libdw: where the innermost frame's canonical frame
// address (CFA) is based, so a frame-pointer walk can recover the caller a frameless function
// (or a prologue before `mov %rsp,%rbp`) would make it skip.
#pragma once

#include <elfutils/libdw.h>
#include <libelf.h>

#include <cstdint>
#include <memory>

#include "profkit/common/status.h"

namespace profkit::symbolize {

struct FrameRule {
  enum class Base {
    kUncovered,     // no CFI row covers the address
    kUnusable,      // covered, but by a DWARF expression or a return address not saved at CFA+n
    kStackPointer,  // CFA = RSP + n: no frame pointer established here
    kOtherRegister  // CFA based on RBP (or another register): the frame-pointer walk is right
  };
  Base base = Base::kUncovered;
  // With kStackPointer: byte offset from RSP at which the return address is stored.
  uint64_t return_address_offset = 0;
};

// The rule of `cfi` at the ELF virtual address `address` (x86-64 register numbering).
FrameRule FindFrameRule(Dwarf_CFI* cfi, uint64_t address);

// The .eh_frame of one file, on an Elf handle of its own.
class EhFrame {
 public:
  // Takes ownership of `elf`. Fails when the file has no .eh_frame.
  static Result<std::unique_ptr<EhFrame>> Open(Elf* elf);
  ~EhFrame();
  EhFrame(const EhFrame&) = delete;
  EhFrame& operator=(const EhFrame&) = delete;

  Dwarf_CFI* cfi() const { return cfi_; }

 private:
  EhFrame(Elf* elf, Dwarf_CFI* cfi) : elf_(elf), cfi_(cfi) {}

  Elf* elf_;
  Dwarf_CFI* cfi_;
};

}  // namespace profkit::symbolize
