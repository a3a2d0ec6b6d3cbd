// A known deep native call chain in code without frame pointers (built -O2 -fomit-frame-pointer
// -fno-optimize-sibling-calls), for the native unwinder's end-to-end test:
//   second thread: start_thread -> thread_main -> recurse x DEPTH -> deep_lib_call_back (shared
//                  library) -> callback -> spin_in_thread
//   main thread:   main -> signal_loop -> raise (libc) -> [signal frame] -> on_signal
//                  -> spin_in_signal
// Usage: deep_native SECONDS
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#define DEPTH 20

int deep_lib_call_back(int (*callback)(int), int value);

static volatile int stop;
static volatile unsigned long sink;

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static int spin_in_thread(int value) {
  unsigned long x = (unsigned long)value;
  for (int i = 0; i < 200000; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink = x;
  return (int)(x & 7);
}

__attribute__((noinline)) static int callback(int value) { return spin_in_thread(value) + 1; }

__attribute__((noinline)) static int recurse(int depth) {
  if (depth == 0) return deep_lib_call_back(callback, depth);
  return recurse(depth - 1) + depth;
}

__attribute__((noinline)) static void* thread_main(void* arg) {
  (void)arg;
  while (!stop) sink += (unsigned long)recurse(DEPTH - 1);
  return NULL;
}

__attribute__((noinline)) static void spin_in_signal(void) {
  unsigned long x = sink;
  for (int i = 0; i < 200000; ++i) x = x * 2862933555777941757UL + 3037000493UL;
  sink = x;
}

__attribute__((noinline)) static void on_signal(int signo) {
  (void)signo;
  spin_in_signal();
  sink += 1;
}

__attribute__((noinline)) static void signal_loop(double seconds) {
  const double end = Now() + seconds;
  while (Now() < end) raise(SIGUSR1);
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 3;
  signal(SIGUSR1, on_signal);
  pthread_t thread;
  pthread_create(&thread, NULL, thread_main, NULL);
  signal_loop(seconds);
  stop = 1;
  pthread_join(thread, NULL);
  return 0;
}
