// A CPU-bound program the hostile-process tests corrupt after linking
// (tests/integration/test_hostile.py):
//   spin_target SECONDS     spins in hostile_hot (called from main through hostile_outer)
// Built with -O2 -g so it has .symtab, .eh_frame(_hdr) and DWARF for the corruptions to lie in;
// only its program headers must stay intact for it to run.
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void hostile_hot(uint64_t iterations) {
  uint64_t x = sink;
  for (uint64_t i = 0; i < iterations; i++) x = x * 6364136223846793005ULL + i;
  sink = x;
}

__attribute__((noinline)) void hostile_outer(double seconds) {
  const double end = now_seconds() + seconds;
  while (now_seconds() < end) hostile_hot(100000);
}

int main(int argc, char** argv) {
  hostile_outer(argc > 1 ? atof(argv[1]) : 1.0);
  return 0;
}
