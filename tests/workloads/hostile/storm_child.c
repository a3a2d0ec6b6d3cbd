// The short-lived process of the spawn storm: a few microseconds of work, then exit. Built static
// so exec costs no dynamic loading and the storm's rate is the kernel's, not ld.so's.
#include <stdint.h>

static volatile uint64_t sink;

__attribute__((noinline)) void storm_child_work(void) {
  uint64_t x = sink;
  for (uint64_t i = 0; i < 20000; i++) x = x * 6364136223846793005ULL + i;
  sink = x;
}

int main(void) {
  storm_child_work();
  return 0;
}
