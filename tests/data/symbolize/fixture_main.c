// Symbolizer fixture program: prints the addresses the test symbolizes, then waits for stdin to
// close so the test can read its /proc/PID/maps while it runs. Lines marked "MARK:<name>" are
// looked up by the test; keep each marker on the line it names.
#include <stdio.h>

__attribute__((noinline)) void fixture_report(void) {  // MARK:report
  printf("return %p\n", __builtin_return_address(0));
}

static inline __attribute__((always_inline)) void fixture_inlined_step(void) {  // MARK:step
  fixture_report();                                                             // MARK:inlined_call
}

__attribute__((noinline)) void fixture_outer(void) {  // MARK:outer
  fixture_inlined_step();                             // MARK:outer_call
}

__attribute__((noinline)) int fixture_leaf(int x) {  // MARK:leaf
  return x * 3 + 1;
}

int main(void) {
  printf("leaf %p\n", (void*)&fixture_leaf);
  fixture_outer();
  fflush(stdout);
  while (getchar() != EOF) {
  }
  return fixture_leaf(0) == 1 ? 0 : 1;
}
