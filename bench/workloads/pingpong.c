// Context-switch-heavy workload for bench/offcpu.sh: two threads pass one byte back and forth
// through two pipes, `rounds` times, each blocking in read() until the other writes. Pinned to
// one CPU (by the caller), every round trip is two context switches between them. Waits for a
// byte on stdin before starting (the profiler attaches first), then prints its elapsed time
// (CLOCK_MONOTONIC), the switches per second and the CPU time of both threads
// (CLOCK_PROCESS_CPUTIME_ID): what the switches cost this process, BPF programs run at the switch
// included, which other programs sharing the CPU do not inflate the way they do elapsed time.
// Usage: pingpong ROUNDS < start-fifo
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];
static long rounds;

static double seconds(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *echo(void *arg) {
  (void)arg;
  char c;
  for (long i = 0; i < rounds; ++i) {
    if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1) exit(1);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2 || (rounds = atol(argv[1])) <= 0) {
    fprintf(stderr, "usage: pingpong ROUNDS\n");
    return 2;
  }
  if (pipe(ping) != 0 || pipe(pong) != 0) return 1;
  char c;
  if (read(0, &c, 1) != 1) return 1;  // the start signal
  pthread_t thread;
  pthread_create(&thread, NULL, echo, NULL);
  const double start = seconds(CLOCK_MONOTONIC);
  const double cpu_start = seconds(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < rounds; ++i) {
    if (write(ping[1], "x", 1) != 1 || read(pong[0], &c, 1) != 1) return 1;
  }
  const double elapsed = seconds(CLOCK_MONOTONIC) - start;
  pthread_join(thread, NULL);
  const double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
  printf("elapsed_s=%.6f switches_per_s=%.0f cpu_s=%.6f\n", elapsed, 2.0 * rounds / elapsed, cpu);
  return 0;
}
