// Unwind table fixture, built -O2 -fomit-frame-pointer: frameless functions whose CFA moves with
// RSP, one that keeps a variable-length array (CFA from RBP), a large frame, and calls through the
// PLT (puts, qsort's callback).
#include <alloca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static int compare(const void* a, const void* b) {
  return *(const int*)a - *(const int*)b;
}

__attribute__((noinline)) int sort_some(int n) {
  int* values = alloca(sizeof(int) * (size_t)(n + 1));  // RBP-based CFA
  for (int i = 0; i <= n; ++i) values[i] = (i * 7919) % (n + 1);
  qsort(values, (size_t)n + 1, sizeof(int), compare);
  return values[n / 2];
}

__attribute__((noinline)) int big_frame(int n) {
  volatile char buffer[100000];  // CFA offset beyond 16 bits of bytes
  memset((char*)buffer, n, sizeof(buffer));
  return buffer[n % sizeof(buffer)] + sort_some(n);
}

int main(int argc, char** argv) {
  (void)argv;
  printf("%d\n", big_frame(argc + 10));
  return 0;
}
