// Call frame information fixture, built at -O1 -fno-omit-frame-pointer: GCC 12 leaves the leaf
// frameless and gives the caller a push %rbp / mov %rsp,%rbp frame. The test disassembles the
// built objects rather than assuming this layout.
__attribute__((noinline)) int cfi_leaf(int x) { return x * 3 + 1; }

__attribute__((noinline)) int cfi_framed(int x) { return cfi_leaf(x) + cfi_leaf(x + 1) + 7; }
