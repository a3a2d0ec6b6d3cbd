/* The CPU sampler: attached to a PERF_COUNT_SW_CPU_CLOCK event on every CPU, it records who was
 * running and its kernel and user stacks (frame-pointer walk by the kernel). */
#include "vmlinux.h"

#include <bpf/bpf_helpers.h>

#include "profkit/bpf_abi.h"
#include "profkit_maps.h"

#define PROFKIT_IPS_BYTES ((PROFKIT_MAX_STACK_DEPTH + PROFKIT_MAX_USER_STACK_DEPTH) * sizeof(__u64))
#define PROFKIT_PYTHON_FRAMES_BYTES \
  (PROFKIT_MAX_PYTHON_FRAMES * sizeof(struct profkit_python_frame))

#include "python_walker.bpf.h"

/* bpf_get_stack() is GPL-only. One license per linked object: process.bpf.c has none. */
char LICENSE[] SEC("license") = "GPL";

/* Set by userspace before load (SamplerOptions::kernel_stacks); the verifier prunes the unused
 * branch. */
const volatile bool kernel_stacks = true;

/* A sample is assembled here, then only its used part is copied to the ring buffer. Too big for
 * the 512-byte BPF stack, and per-CPU because the two programs that fill it never nest on one
 * CPU: the perf_event program runs in the CPU clock's interrupt, in which nothing schedules, and
 * sched_switch fires with interrupts off (__schedule disables them before taking the run-queue
 * lock), so the CPU clock's interrupt cannot cut into it. The body holds the kernel and user IPs,
 * then the Python frames right after the last IP. */
struct profkit_sample_scratch {
  struct profkit_sample_header header;
  __u8 body[PROFKIT_IPS_BYTES + PROFKIT_PYTHON_FRAMES_BYTES];
  struct python_walk_buffers python;
  struct user_window_buffer window; /* the walkers' window of user memory */
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct profkit_sample_scratch);
} sample_scratch SEC(".maps");

#include "native_unwinder.bpf.h"

#define PROFKIT_STACK_BYTES (PROFKIT_MAX_STACK_DEPTH * sizeof(__u64))

/* Records the current thread's kernel, user and Python stacks as one record of `kind` stamped
 * `ktime_ns`: a CPU sample (perf_event), or the stacks of a thread leaving the CPU
 * (off_cpu.bpf.h). `ctx` is the program's context, for bpf_get_stack()'s kernel stack: the
 * interrupted registers of a perf event, the tracepoint's caller for tp_btf, whose innermost
 * `kernel_skip` frames (the BPF program and the tracing glue) are left out. Every other read is
 * of the current task's registers and memory. Returns whether the record was written. */
static __always_inline bool record_current_stacks(void *ctx, __u32 kind, __u64 ktime_ns,
                                                  __u32 off_cpu_events, __u32 kernel_skip) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  /* The per-CPU idle tasks all have pid 0: idle time is not CPU usage. */
  if (tgid == 0) return false;

  __u32 zero = 0;
  struct profkit_sample_scratch *s = bpf_map_lookup_elem(&sample_scratch, &zero);
  if (!s) return false;

  s->header.kind = kind;
  s->header.off_cpu_events = off_cpu_events;
  s->header.pid = tgid;
  s->header.tid = (__u32)pid_tgid;
  s->header.cpu = bpf_get_smp_processor_id();
  s->header.ktime_ns = ktime_ns;
  bpf_get_current_comm(s->header.comm, sizeof(s->header.comm));

  __u64 *ips = (__u64 *)s->body;
  __u32 flags = 0;
  __u64 kernel_depth = 0;
  if (kernel_stacks) {
    long n = bpf_get_stack(ctx, ips, PROFKIT_STACK_BYTES, kernel_skip & BPF_F_SKIP_FIELD_MASK);
    if (n < 0) {
      flags |= PROFKIT_SAMPLE_KERNEL_STACK_ERROR;
      profkit_count(PROFKIT_COUNTER_STACK_ERRORS);
    } else {
      kernel_depth = (__u64)n / sizeof(__u64);
    }
  }
  /* Already true; stated so the verifier can bound the user stack's offset below. */
  if (kernel_depth > PROFKIT_MAX_STACK_DEPTH) kernel_depth = PROFKIT_MAX_STACK_DEPTH;
  if (kernel_depth == PROFKIT_MAX_STACK_DEPTH) flags |= PROFKIT_SAMPLE_KERNEL_STACK_TRUNCATED;

  __u64 user_depth = 0;
  /* The user-mode registers, whether the interrupt hit user code or a system call in progress. */
  struct pt_regs *user_regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
  bool read_stack_top = false;
  const struct profkit_unwind_process *unwind_process =
      bpf_map_lookup_elem(&unwind_processes, &tgid);
  if (unwind_process) {
    /* Userspace loaded unwind tables for this process: the complete stack, frameless code too. */
    bool complete = false;
    __u64 started = bpf_ktime_get_ns();
    if (user_regs) {
      user_depth =
          unwind_user_stack(user_regs, unwind_process, s, kernel_depth, &complete, &read_stack_top);
    }
    profkit_count_add(PROFKIT_COUNTER_UNWIND_NS, bpf_ktime_get_ns() - started);
    flags |= PROFKIT_SAMPLE_USER_STACK_UNWOUND;
    profkit_count(PROFKIT_COUNTER_UNWIND_SAMPLES);
    if (!complete) {
      flags |= PROFKIT_SAMPLE_USER_STACK_TRUNCATED;
      profkit_count(PROFKIT_COUNTER_UNWIND_TRUNCATED);
    }
    if (user_depth > PROFKIT_MAX_USER_STACK_DEPTH) user_depth = PROFKIT_MAX_USER_STACK_DEPTH;
  } else {
    long n = bpf_get_stack(ctx, &ips[kernel_depth], PROFKIT_STACK_BYTES, BPF_F_USER_STACK);
    if (n < 0) {
      flags |= PROFKIT_SAMPLE_USER_STACK_ERROR;
      profkit_count(PROFKIT_COUNTER_STACK_ERRORS);
    } else {
      user_depth = (__u64)n / sizeof(__u64);
    }
    if (user_depth > PROFKIT_MAX_STACK_DEPTH) user_depth = PROFKIT_MAX_STACK_DEPTH;
    if (user_depth == PROFKIT_MAX_STACK_DEPTH) flags |= PROFKIT_SAMPLE_USER_STACK_TRUNCATED;
    read_stack_top = true;
  }
  /* A frame-pointer walk misses a frameless leaf's caller: the words at the user SP let
   * userspace find it from the leaf's CFI. */
  if (read_stack_top && user_depth > 0 && user_regs &&
      bpf_probe_read_user(s->header.user_stack_top, sizeof(s->header.user_stack_top),
                          (const void *)user_regs->sp) == 0) {
    flags |= PROFKIT_SAMPLE_USER_STACK_TOP_VALID;
  }

  __u32 ips_bytes = (kernel_depth + user_depth) * sizeof(__u64);
  __u32 python_depth = 0;
  __u16 python_status = 0;
  const struct profkit_python_process *python = bpf_map_lookup_elem(&python_processes, &tgid);
  if (python) {
    bool truncated = false;
    flags |= PROFKIT_SAMPLE_PYTHON;
    python_depth = py_walk_stack(python, &s->python, &s->window, s->body, ips_bytes, &python_status,
                                 &truncated);
    if (truncated) flags |= PROFKIT_SAMPLE_PYTHON_TRUNCATED;
    profkit_count(PROFKIT_COUNTER_PYTHON_SAMPLES);
    if (python_depth == 0) profkit_count(PROFKIT_COUNTER_PYTHON_WALK_FAILURES);
  }
  if (python_depth > PROFKIT_MAX_PYTHON_FRAMES) python_depth = PROFKIT_MAX_PYTHON_FRAMES;

  s->header.kernel_depth = kernel_depth;
  s->header.user_depth = user_depth;
  s->header.flags = flags;
  s->header.python_depth = python_depth;
  s->header.python_status = python_status;

  __u64 size = sizeof(s->header) + ips_bytes + python_depth * sizeof(struct profkit_python_frame);
  /* Already true; stated after a compiler barrier so the check survives optimisation and bounds
   * the size for the verifier. */
  barrier_var(size);
  if (size > sizeof(s->header) + sizeof(s->body)) return false;
  __u64 wakeup = profkit_wakeup_flags();
  __u32 *new_program_wakeups = bpf_map_lookup_elem(&new_programs, &tgid);
  if (new_program_wakeups) {
    wakeup = BPF_RB_FORCE_WAKEUP;
    if (*new_program_wakeups <= 1) {
      bpf_map_delete_elem(&new_programs, &tgid);
    } else {
      *new_program_wakeups -= 1;
    }
  }
  if (bpf_ringbuf_output(&events, s, size, wakeup) != 0) {
    profkit_count(PROFKIT_COUNTER_RINGBUF_DROPS);
    return false;
  }
  return true;
}

SEC("perf_event")
int profkit_sample(struct bpf_perf_event_data *ctx) {
  record_current_stacks(ctx, PROFKIT_EVENT_SAMPLE, bpf_ktime_get_ns(), 0, 0);
  return 0;
}

#include "off_cpu.bpf.h"
