// Where CPython 3.15+ keeps a thread's gilstate `PyThreadState*`: the thread-local variable
// `_Py_tss_gilstate`, a hidden symbol that stripped binaries do not name. Its location is read
// from the machine code of the exported accessor `PyGILState_GetThisThreadState`, whose body is
// the TLS access itself (docs/cpython-314-315.md, "Thread state"). x86-64 only.
#pragma once

#include <cstdint>
#include <span>

#include "profkit/common/status.h"

namespace profkit::python {

struct ThreadLocalLocation {
  enum class Model {
    // An executable's own TLS (local-exec): the value is at fs_base + offset.
    kStaticTls,
    // A shared library's TLS (general- or local-dynamic): `tls_index_address` is the GOT entry
    // {ti_module, ti_offset} the dynamic loader fills in; the value is at
    // dtv[ti_module].pointer + ti_offset + offset, dtv being the thread's TLS vector.
    kDynamicTls,
  };
  Model model = Model::kStaticTls;
  int64_t offset = 0;
  uint64_t tls_index_address = 0;  // kDynamicTls: ELF virtual address of the GOT entry

  bool operator==(const ThreadLocalLocation&) const = default;
};

// Decodes the accessor function's first bytes (`code`, read at ELF virtual address
// `function_address`). Accepted, after an optional endbr64 and frame-pointer prologue:
//   mov %fs:DISP32,%rax; [pop %rbp;] ret
//   [data16] lea GOT(%rip),%rdi; [data16 data16 rex.W] call __tls_get_addr (direct or via GOT);
//   [pop %rbp;] mov DISP(%rax),%rax; [pop %rbp;] ret
// Anything else is an error naming the instruction that did not match.
Result<ThreadLocalLocation> DecodeThreadLocalAccessor(std::span<const uint8_t> code,
                                                      uint64_t function_address);

}  // namespace profkit::python
