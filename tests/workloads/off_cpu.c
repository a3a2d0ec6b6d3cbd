// Off-CPU workload with known truth (tests/integration/test_off_cpu.py): three threads that each
// wait in one known function, and measure their own CPU time, wall time and time spent waiting.
// Prints one JSON line per thread: {"name", "tid", "cpu_s", "wall_s", "blocked_s"}.
//   sleeper: 4 rounds of 100 ms of CPU then nanosleep 300 ms (in wait_sleeping)
//   locker:  pthread_mutex_lock of a mutex main holds for 1 s (in wait_for_lock)
//   reader:  20 blocking read()s of a pipe fed every 50 ms (in wait_for_pipe)
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

enum { kRounds = 4, kReads = 20 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static int pipe_fds[2];

static double now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void burn(double seconds) {
  const double start = now(CLOCK_THREAD_CPUTIME_ID);
  while (now(CLOCK_THREAD_CPUTIME_ID) - start < seconds) {
  }
}

__attribute__((noinline)) static void wait_sleeping(void) {
  const struct timespec ts = {0, 300 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

// The check after the call keeps it a call, not a tail jump that would leave this frame.
__attribute__((noinline)) static void wait_for_lock(void) {
  if (pthread_mutex_lock(&lock) != 0) _exit(1);
}

__attribute__((noinline)) static void wait_for_pipe(void) {
  char c;
  if (read(pipe_fds[0], &c, 1) != 1) _exit(1);
}

static double sleeper(void) {
  double blocked = 0;
  for (int i = 0; i < kRounds; ++i) {
    burn(0.1);
    const double t = now(CLOCK_MONOTONIC);
    wait_sleeping();
    blocked += now(CLOCK_MONOTONIC) - t;
  }
  return blocked;
}

static double locker(void) {
  const double t = now(CLOCK_MONOTONIC);
  wait_for_lock();
  const double blocked = now(CLOCK_MONOTONIC) - t;
  pthread_mutex_unlock(&lock);
  return blocked;
}

static double reader(void) {
  double blocked = 0;
  for (int i = 0; i < kReads; ++i) {
    const double t = now(CLOCK_MONOTONIC);
    wait_for_pipe();
    blocked += now(CLOCK_MONOTONIC) - t;
  }
  return blocked;
}

static void *feeder(void *arg) {
  (void)arg;
  const struct timespec interval = {0, 50 * 1000 * 1000};
  for (int i = 0; i < kReads; ++i) {
    nanosleep(&interval, NULL);
    if (write(pipe_fds[1], "x", 1) != 1) _exit(1);
  }
  return NULL;
}

struct job {
  const char *name;
  double (*body)(void);
};

static void *measured(void *arg) {
  const struct job *job = arg;
  const double wall = now(CLOCK_MONOTONIC), cpu = now(CLOCK_THREAD_CPUTIME_ID);
  const double blocked = job->body();
  pthread_mutex_lock(&print_lock);
  printf("{\"name\": \"%s\", \"tid\": %d, \"cpu_s\": %f, \"wall_s\": %f, \"blocked_s\": %f}\n",
         job->name, gettid(), now(CLOCK_THREAD_CPUTIME_ID) - cpu, now(CLOCK_MONOTONIC) - wall,
         blocked);
  fflush(stdout);
  pthread_mutex_unlock(&print_lock);
  return NULL;
}

int main(void) {
  static struct job jobs[] = {{"sleeper", sleeper}, {"locker", locker}, {"reader", reader}};
  pthread_t threads[4];
  if (pipe(pipe_fds) != 0) return 1;
  // The profiler loads a new process's unwind tables after its first stacks (README.md, "How
  // native stacks are unwound"); until then a frameless libc function hides its caller. The
  // measured waits start after that.
  const struct timespec settle = {0, 300 * 1000 * 1000};
  nanosleep(&settle, NULL);
  pthread_mutex_lock(&lock);
  for (int i = 0; i < 3; ++i) pthread_create(&threads[i], NULL, measured, &jobs[i]);
  pthread_create(&threads[3], NULL, feeder, NULL);
  const struct timespec held = {1, 0};
  nanosleep(&held, NULL);
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < 4; ++i) pthread_join(threads[i], NULL);
  return 0;
}
