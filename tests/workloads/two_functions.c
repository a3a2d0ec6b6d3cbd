// A CPU-bound workload with a known split of CPU time, for the sampling integration tests.
//   two_functions SECONDS          70% of its CPU time in hot_a, 30% in hot_b (both leaves,
//                                  called as main -> run_user -> hot_a / hot_b)
//   two_functions SECONDS kernel   mostly in the kernel, reading /dev/zero from read_zero
//   two_functions SECONDS thread   the 70/30 work on a second thread named "hot-worker"
// At exit it prints "cpu_seconds=<its own CPU time>" so tests can compare the number of samples
// with the CPU time actually consumed, whatever else the machine was doing.
// Built with -O1 -fno-omit-frame-pointer -fno-inline so frame-pointer unwinding sees every frame.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

// Same loop body in both, so CPU time is proportional to the iteration count.
__attribute__((noinline)) void hot_a(uint64_t iterations) {
  uint64_t x = sink;
  for (uint64_t i = 0; i < iterations; i++) x = x * 6364136223846793005ULL + i;
  sink = x;
}

__attribute__((noinline)) void hot_b(uint64_t iterations) {
  uint64_t x = sink;
  for (uint64_t i = 0; i < iterations; i++) x = x * 6364136223846793005ULL + i;
  sink = x;
}

__attribute__((noinline)) void run_user(double seconds) {
  const double end = now_seconds() + seconds;
  // A round of fixed length (about 1 ms) beats with the sampling period and can put most samples
  // in the same phase of it; rounds of 1 to 7 units in a shuffled order keep the 70/30 split
  // without a period near the sampler's.
  for (uint64_t round = 0; now_seconds() < end; round++) {
    const uint64_t units = 1 + round * 5 % 7;
    hot_a(70000 * units);
    hot_b(30000 * units);
  }
}

__attribute__((noinline)) void read_zero(int fd, char* buffer, size_t size) {
  if (read(fd, buffer, size) < 0) abort();
}

__attribute__((noinline)) void run_kernel(double seconds) {
  static char buffer[1 << 20];
  const int fd = open("/dev/zero", O_RDONLY);
  if (fd < 0) abort();
  const double end = now_seconds() + seconds;
  while (now_seconds() < end) read_zero(fd, buffer, sizeof(buffer));
  close(fd);
}

static void* worker_main(void* seconds) {
  run_user(*(const double*)seconds);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s SECONDS [kernel]\n", argv[0]);
    return 2;
  }
  const double seconds = atof(argv[1]);
  if (argc > 2 && strcmp(argv[2], "kernel") == 0) {
    run_kernel(seconds);
  } else if (argc > 2 && strcmp(argv[2], "thread") == 0) {
    pthread_t worker;
    if (pthread_create(&worker, NULL, worker_main, (void*)&seconds) != 0) abort();
    pthread_setname_np(worker, "hot-worker");
    pthread_join(worker, NULL);
  } else {
    run_user(seconds);
  }
  struct timespec cpu;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
  printf("cpu_seconds=%.3f\n", (double)cpu.tv_sec + cpu.tv_nsec / 1e9);
  return 0;
}
