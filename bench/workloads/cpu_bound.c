// Fixed, deterministic, single-threaded CPU work for the overhead benchmark.
// Prints its own elapsed time so the measurement excludes process start-up and
// exit, and the time it spent runnable but waiting for a CPU, so a reader can
// tell a profiler's cost from contention with unrelated tasks. The call chain is deliberately a few
// frames deep (and built with frame pointers) so the profilers under test really unwind a stack on
// every sample.
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

// Calibrated to take about 5 s on the benchmark VM (Xeon, 2 vCPUs).
#define DEFAULT_WORK_UNITS 6500ULL
// Upper bound on the command-line override, so a typo cannot run for hours.
#define MAX_WORK_UNITS 1000000ULL
// Working set of one unit: fits in L2, so the loop is compute bound but still
// sensitive to cache pollution from the profiler's interrupt handler.
#define BLOCK_WORDS (64 * 1024 / sizeof(uint64_t))
// Extra frames between main and the hot loop.
#define CALL_DEPTH 12

static uint64_t block[BLOCK_WORDS];

static double NowSeconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

// Nanoseconds this thread has waited on a run queue (second field of
// /proc/thread-self/schedstat), or -1 when the kernel does not provide it.
static long long RunDelayNs(void) {
  FILE* f = fopen("/proc/thread-self/schedstat", "r");
  if (f == NULL) return -1;
  unsigned long long on_cpu = 0, waited = 0;
  int fields = fscanf(f, "%llu %llu", &on_cpu, &waited);
  fclose(f);
  return fields == 2 ? (long long)waited : -1;
}

__attribute__((noinline)) static uint64_t MixWord(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

__attribute__((noinline)) static uint64_t MixBlock(uint64_t seed) {
  uint64_t acc = seed;
  for (int pass = 0; pass < 16; ++pass) {
    for (size_t i = 0; i < BLOCK_WORDS; ++i) {
      block[i] = MixWord(block[i] ^ acc);
      acc += block[i];
    }
  }
  return acc;
}

__attribute__((noinline)) static uint64_t Descend(int depth, uint64_t seed) {
  if (depth == 0) return MixBlock(seed);
  // The addition after the call keeps this from becoming a tail call, so
  // every level stays on the stack.
  return Descend(depth - 1, seed) + (uint64_t)depth;
}

int main(int argc, char** argv) {
  unsigned long long units = DEFAULT_WORK_UNITS;
  if (argc > 2) {
    fprintf(stderr, "usage: %s [work_units]\n", argv[0]);
    return 2;
  }
  if (argc == 2) {
    char* end = NULL;
    errno = 0;
    units = strtoull(argv[1], &end, 10);
    if (errno != 0 || end == argv[1] || *end != '\0' || units == 0 || units > MAX_WORK_UNITS) {
      fprintf(stderr, "work_units must be an integer in [1, %llu], got '%s'\n", MAX_WORK_UNITS,
              argv[1]);
      return 2;
    }
  }
  for (size_t i = 0; i < BLOCK_WORDS; ++i) block[i] = i;

  long long delay_start = RunDelayNs();
  double start = NowSeconds();
  uint64_t acc = 0;
  for (unsigned long long u = 0; u < units; ++u) acc = Descend(CALL_DEPTH, acc + u);
  double elapsed = NowSeconds() - start;
  long long delay_end = RunDelayNs();
  double run_delay =
      (delay_start < 0 || delay_end < 0) ? -1.0 : (double)(delay_end - delay_start) / 1e9;

  // Printing the checksum keeps the work observable to the optimizer.
  printf("elapsed_s=%.6f run_delay_s=%.6f units=%llu checksum=%016" PRIx64 "\n", elapsed, run_delay,
         units, acc);
  return 0;
}
