// The shared-library half of deep_native.c: calls back into the program, so the unwinder has to
// cross from the program's table into this library's and back. Built -O2 -fomit-frame-pointer.
__attribute__((noinline)) int deep_lib_call_back(int (*callback)(int), int value) {
  // Work after the call keeps it a call, not a tail jump.
  return callback(value + 1) * 3 + 1;
}
