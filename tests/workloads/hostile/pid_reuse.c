// Runs programs one after another on the same PID (tests/integration/test_hostile.py):
//   pid_reuse ROUNDS MILLISECONDS PROGRAM_A PROGRAM_B [fresh]
// The first child gets a PID from the kernel; every later one is created with clone3's set_tid
// (root only) on that same PID once the previous one is reaped, and execs A and B in turn, each
// running MILLISECONDS. So the profiler sees one PID exit and come back as another binary while
// the previous one's samples are still being symbolized. Prints "pid=P rounds=N" (rounds that got
// the PID; another process can take it in between, which ends the run early). With "fresh" every
// child gets a new PID from the kernel: the same programs without the reuse, for comparison.
#define _GNU_SOURCE
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t spawn_on(pid_t wanted, char* program, char* milliseconds) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  if (wanted > 0) {
    args.set_tid = (uint64_t)(uintptr_t)&wanted;
    args.set_tid_size = 1;
  }
  const long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    char* argv[] = {program, milliseconds, NULL};
    execv(program, argv);
    _exit(127);
  }
  return (pid_t)pid;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: pid_reuse ROUNDS MILLISECONDS PROGRAM_A PROGRAM_B [fresh]\n");
    return 2;
  }
  const int rounds = atoi(argv[1]);
  const int reuse = !(argc > 5 && strcmp(argv[5], "fresh") == 0);
  pid_t pid = 0;
  int done = 0;
  for (; done < rounds; done++) {
    const pid_t child = spawn_on(reuse ? pid : 0, argv[3 + done % 2], argv[2]);
    if (child < 0) {
      perror("clone3");
      break;
    }
    pid = child;
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "round %d: child failed\n", done);
      break;
    }
  }
  printf("pid=%d rounds=%d\n", (int)pid, done);
  return done == rounds ? 0 : 1;
}
