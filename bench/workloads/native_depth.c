// A native stack of a chosen depth in code without frame pointers (built -O2
// -fomit-frame-pointer -fno-optimize-sibling-calls by bench/native_unwind.sh): main -> recurse
// x DEPTH -> spin. Usage: native_depth DEPTH SECONDS
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) static void spin(void) {
  unsigned long x = sink;
  for (int i = 0; i < 100000; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink = x;
}

__attribute__((noinline)) static int recurse(int depth) {
  if (depth <= 0) {
    spin();
    return 0;
  }
  return recurse(depth - 1) + 1;
}

int main(int argc, char** argv) {
  const int depth = argc > 1 ? atoi(argv[1]) : 30;
  const double seconds = argc > 2 ? atof(argv[2]) : 5;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    sink += (unsigned long)recurse(depth);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
  return 0;
}
