/* The records the BPF programs write to the ring buffer and the counters they keep: the only
 * contract between bpf/ and userspace. Plain C so both clang -target bpf and the C++ decoder
 * include it; the layouts are fixed by the static asserts at the end (C++ side).
 *
 * Growing the ABI: a new per-sample section (e.g. CPython frames) adds a count field to
 * profkit_sample_header (keeping its size a multiple of 8) and appends its entries after the user
 * IPs; the decoder's expected-size computation is the one place that learns about it. */
#ifndef PROFKIT_BPF_ABI_H_
#define PROFKIT_BPF_ABI_H_

#if defined(__bpf__)
/* vmlinux.h, included first by every BPF source, already defines the __u32-style types; kernel
 * UAPI headers would clash with it. */
#else
#include <linux/types.h>
#endif

/* Frames kept per stack, kernel and user each. 127 is the kernel's default
 * kernel.perf_event_max_stack, the most bpf_get_stack() returns without a sysctl change. */
#define PROFKIT_MAX_STACK_DEPTH 127

/* TASK_COMM_LEN: the kernel's comm buffer, NUL-terminated unless the name fills it. */
#define PROFKIT_COMM_LEN 16

/* Words copied from the interrupted user stack pointer upward. A frame-pointer walk starts from
 * the caller's frame when the innermost function has not set up its own (frameless leaf
 * functions, libc's system-call wrappers, prologues); its return address is then in one of these
 * words, and userspace finds which from the function's CFI. 8 words cover a frameless function
 * that saved up to 7 registers. */
#define PROFKIT_STACK_TOP_WORDS 8

/* The first __u32 of every record. Zero is left unused so zeroed memory never decodes. */
enum profkit_event_kind {
  PROFKIT_EVENT_SAMPLE = 1,
  PROFKIT_EVENT_EXEC = 2,
  PROFKIT_EVENT_FORK = 3,
  PROFKIT_EVENT_EXIT = 4,
};

/* profkit_sample_header.flags */
enum profkit_sample_flags {
  /* bpf_get_stack() failed; that stack's depth is 0. */
  PROFKIT_SAMPLE_KERNEL_STACK_ERROR = 1u << 0,
  PROFKIT_SAMPLE_USER_STACK_ERROR = 1u << 1,
  /* The stack filled all PROFKIT_MAX_STACK_DEPTH slots, so outer frames are probably missing. */
  PROFKIT_SAMPLE_KERNEL_STACK_TRUNCATED = 1u << 2,
  PROFKIT_SAMPLE_USER_STACK_TRUNCATED = 1u << 3,
  /* user_stack_top holds the words at the interrupted user stack pointer. */
  PROFKIT_SAMPLE_USER_STACK_TOP_VALID = 1u << 4,
};
#define PROFKIT_SAMPLE_KNOWN_FLAGS 0x1fu

/* A PROFKIT_EVENT_SAMPLE record is this header followed by
 * __u64 ips[kernel_depth + user_depth]: kernel IPs then user IPs, innermost first in each part.
 * Records are variable length: only the used IP slots are written to the ring buffer. */
struct profkit_sample_header {
  __u32 kind; /* PROFKIT_EVENT_SAMPLE */
  __u32 pid;  /* tgid */
  __u32 tid;
  __u32 cpu;
  __u64 ktime_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
  char comm[PROFKIT_COMM_LEN];
  __u16 kernel_depth;
  __u16 user_depth;
  __u32 flags; /* enum profkit_sample_flags */
  __u64 user_stack_top[PROFKIT_STACK_TOP_WORDS];
};

/* PROFKIT_EVENT_EXEC, _FORK (a new process, not a thread) and _EXIT (the thread group leader). */
struct profkit_process_event {
  __u32 kind;
  __u32 pid; /* tgid */
  __u32 ppid; /* tgid of the parent */
  char comm[PROFKIT_COMM_LEN];
};

/* Indices of the per-CPU counters array the BPF programs increment and userspace sums. */
enum profkit_counter {
  /* bpf_ringbuf_output/reserve failed (ring buffer full): the record is lost. */
  PROFKIT_COUNTER_RINGBUF_DROPS = 0,
  /* bpf_get_stack() returned an error (kernel or user stack). */
  PROFKIT_COUNTER_STACK_ERRORS = 1,
  PROFKIT_COUNTER_COUNT = 2,
};

#if defined(__cplusplus)
static_assert(sizeof(struct profkit_sample_header) == 112, "sample header layout changed");
static_assert(sizeof(struct profkit_sample_header) % 8 == 0, "IPs after the header must be aligned");
static_assert(sizeof(struct profkit_process_event) == 28, "process event layout changed");
#endif

#endif /* PROFKIT_BPF_ABI_H_ */
