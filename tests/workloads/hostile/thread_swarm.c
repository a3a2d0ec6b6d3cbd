// A process with many threads, each of which works ~0.1 ms every second, so the sampler sees
// thousands of distinct thread ids of one process (tests/integration/test_hostile.py):
//   thread_swarm THREADS SECONDS
// Prints "started=N" once every thread runs, then exits after SECONDS.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

__attribute__((noinline)) void swarm_work(void) {
  uint64_t x = sink;
  for (uint64_t i = 0; i < 100000; i++) x = x * 6364136223846793005ULL + i;
  sink = x;
}

static void* swarm_thread(void* unused) {
  (void)unused;
  const struct timespec pause = {1, 0};
  for (;;) {
    swarm_work();
    nanosleep(&pause, NULL);
  }
  return NULL;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 10000;
  const unsigned seconds = argc > 2 ? (unsigned)atoi(argv[2]) : 5;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr,
                            64 * 1024);  // 10,000 default 8 MiB stacks = 80 GB of address space
  int started = 0;
  for (; started < threads; started++) {
    pthread_t thread;
    if (pthread_create(&thread, &attr, swarm_thread, NULL) != 0) break;
  }
  printf("started=%d\n", started);
  fflush(stdout);
  sleep(seconds);
  return started == threads ? 0 : 1;
}
