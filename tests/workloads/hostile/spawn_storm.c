// Starts short-lived processes at a target rate (tests/integration/test_hostile.py):
//   spawn_storm RATE SECONDS PROGRAM
// posix_spawn (vfork + exec) of PROGRAM RATE times a second for SECONDS, reaping as it goes; at
// most 256 children alive at once. Prints "spawned=N seconds=S failed=F" at the end: the rate
// achieved.
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char** environ;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int reap(int block) {
  int reaped = 0;
  while (waitpid(-1, NULL, block && reaped == 0 ? 0 : WNOHANG) > 0) reaped++;
  return reaped;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: spawn_storm RATE SECONDS PROGRAM\n");
    return 2;
  }
  const double rate = atof(argv[1]);
  const double seconds = atof(argv[2]);
  char* child_argv[] = {argv[3], NULL};
  const double start = now_seconds();
  long spawned = 0, failed = 0;
  int alive = 0;
  for (;;) {
    const double elapsed = now_seconds() - start;
    if (elapsed >= seconds) break;
    alive -= reap(0);
    if (spawned >= elapsed * rate) {  // ahead of schedule
      const struct timespec pause = {0, 100000};
      nanosleep(&pause, NULL);
      continue;
    }
    if (alive >= 256) {
      alive -= reap(1);
      continue;
    }
    pid_t pid;
    if (posix_spawn(&pid, argv[3], NULL, NULL, child_argv, environ) == 0) {
      spawned++;
      alive++;
    } else {
      failed++;
    }
  }
  const double elapsed = now_seconds() - start;
  while (alive > 0 && waitpid(-1, NULL, 0) > 0) alive--;
  printf("spawned=%ld seconds=%.3f failed=%ld\n", spawned, elapsed, failed);
  return 0;
}
