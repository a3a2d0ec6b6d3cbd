#include "call_frames.h"

#include <dwarf.h>

#include <cstdlib>

namespace profkit::symbolize {
namespace {

// x86-64 DWARF register number of RSP (psABI, figure 3.36).
constexpr Dwarf_Word kStackPointerRegister = 7;

struct FrameDeleter {
  void operator()(Dwarf_Frame* frame) const { free(frame); }
};

// Offset n of a CFA of the form "register + n", with the register in `*reg`; false otherwise.
bool RegisterOffset(const Dwarf_Op* ops, size_t nops, Dwarf_Word* reg, int64_t* offset) {
  if (nops != 1) return false;
  const Dwarf_Op& op = ops[0];
  if (op.atom == DW_OP_bregx) {
    // libdw presents a DW_CFA_def_cfa rule as one DW_OP_bregx.
    *reg = op.number;
    *offset = static_cast<int64_t>(op.number2);
    return true;
  }
  if (op.atom >= DW_OP_breg0 && op.atom <= DW_OP_breg31) {
    *reg = op.atom - DW_OP_breg0;
    *offset = static_cast<int64_t>(op.number);
    return true;
  }
  return false;
}

// Offset n when the return address is saved at CFA + n ("offset(n)" rule); false otherwise
// (undefined in the outermost frame, kept in a register, or an expression).
bool SavedAtCfaOffset(const Dwarf_Op* ops, size_t nops, int64_t* offset) {
  if (nops == 0 || ops[0].atom != DW_OP_call_frame_cfa) return false;
  if (nops == 1) {
    *offset = 0;
    return true;
  }
  if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) {
    // libdw stores the signed factored offset in the unsigned operand.
    *offset = static_cast<int64_t>(ops[1].number);
    return true;
  }
  return false;
}

}  // namespace

FrameRule FindFrameRule(Dwarf_CFI* cfi, uint64_t address) {
  FrameRule rule;
  Dwarf_Frame* raw = nullptr;
  if (dwarf_cfi_addrframe(cfi, address, &raw) != 0) return rule;
  const std::unique_ptr<Dwarf_Frame, FrameDeleter> frame(raw);
  rule.base = FrameRule::Base::kUnusable;

  Dwarf_Op* cfa_ops = nullptr;
  size_t cfa_nops = 0;
  Dwarf_Word reg = 0;
  int64_t cfa_offset = 0;
  if (dwarf_frame_cfa(frame.get(), &cfa_ops, &cfa_nops) != 0 ||
      !RegisterOffset(cfa_ops, cfa_nops, &reg, &cfa_offset)) {
    return rule;
  }
  if (reg != kStackPointerRegister) {
    rule.base = FrameRule::Base::kOtherRegister;
    return rule;
  }

  const int ra_register = dwarf_frame_info(frame.get(), nullptr, nullptr, nullptr);
  Dwarf_Op ops_mem[3];
  Dwarf_Op* ra_ops = nullptr;
  size_t ra_nops = 0;
  int64_t ra_offset = 0;
  if (ra_register < 0 ||
      dwarf_frame_register(frame.get(), ra_register, ops_mem, &ra_ops, &ra_nops) != 0 ||
      !SavedAtCfaOffset(ra_ops, ra_nops, &ra_offset)) {
    return rule;
  }
  // Both offsets come from the file: a sum that points below RSP (or overflows) is corrupt.
  int64_t from_sp = 0;
  if (__builtin_add_overflow(cfa_offset, ra_offset, &from_sp) || from_sp < 0) return rule;
  rule.base = FrameRule::Base::kStackPointer;
  rule.return_address_offset = static_cast<uint64_t>(from_sp);
  return rule;
}

Result<std::unique_ptr<EhFrame>> EhFrame::Open(Elf* elf) {
  Dwarf_CFI* cfi = dwarf_getcfi_elf(elf);
  if (cfi == nullptr) {
    elf_end(elf);
    return Status::NotFound("no .eh_frame");
  }
  return std::unique_ptr<EhFrame>(new EhFrame(elf, cfi));
}

EhFrame::~EhFrame() {
  dwarf_cfi_end(cfi_);
  elf_end(elf_);
}

}  // namespace profkit::symbolize
