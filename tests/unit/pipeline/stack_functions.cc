#include "stack_functions.h"

// Each does enough work to be longer than the offsets the tests use, and calls the next so the
// compiler keeps them distinct.
extern "C" {
__attribute__((noinline)) int PkTestLeaf(int n) {
  volatile int sum = 0;
  for (int i = 0; i < n; ++i) sum = sum + i * 3;
  return sum;
}
__attribute__((noinline)) int PkTestCaller(int n) {
  volatile int extra = n * 7;
  return PkTestLeaf(n) + extra;
}
__attribute__((noinline)) int PkTestOuter(int n) {
  volatile int extra = n * 5;
  return PkTestCaller(n) + extra;
}
}
