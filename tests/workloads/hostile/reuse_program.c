// One of the two programs that take turns on the same PID (pid_reuse.c). Compiled twice:
//   -DHOT=reuse_alpha_hot           the hot function near the start of .text
//   -DHOT=reuse_beta_hot -DPADDING  the same, behind 64 KiB of other code, so an address of one
//                                   program resolved with the other's symbols names something else
//   reuse_alpha|reuse_beta MILLISECONDS
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

#ifdef PADDING
// Code (never run) that moves the hot function's address.
__attribute__((noinline, used)) void reuse_padding(void) {
  __asm__ volatile(".fill 65536, 1, 0x90");
}
#endif

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void HOT(uint64_t iterations) {
  uint64_t x = sink;
  for (uint64_t i = 0; i < iterations; i++) x = x * 6364136223846793005ULL + i;
  sink = x;
}

int main(int argc, char** argv) {
  const double end = now_seconds() + (argc > 1 ? atof(argv[1]) : 50) / 1000;
  while (now_seconds() < end) HOT(20000);
  return 0;
}
