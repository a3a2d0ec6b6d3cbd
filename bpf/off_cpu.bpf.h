/* Off-CPU profiling: how long threads wait, and where (README.md, "Off-CPU and wall-clock
 * profiles"). One program on tp_btf/sched_switch, loaded and attached only when [ebpf] off_cpu
 * is on, does both halves of a wait:
 *
 *  - `prev`, leaving the CPU: after cheap filters and the 1-in-N decision, its kernel, user and
 *    Python stacks are walked and written as a PROFKIT_EVENT_OFF_CPU record, and its switch-out
 *    time kept in its task storage. The walk has to happen here: the stack walkers read the
 *    *current* task's registers and memory (bpf_get_stack, bpf_task_pt_regs of the current task,
 *    bpf_probe_read_user), and at sched_switch the current task is still `prev` (its address
 *    space too: switch_mm comes after the tracepoint). The kernel stack seen from here is the
 *    wait path itself (__schedule ← schedule ← futex_wait / do_sys_poll / pipe_read ...).
 *  - `next`, coming back: if its switch-out was recorded, how long it was away is now known; a
 *    wait of at least the minimum gets a small PROFKIT_EVENT_OFF_CPU_END record, which userspace
 *    pairs with the switch-out record by (tid, ktime).
 *
 * Why not walk when the thread runs again, in its own context, so that short waits cost no walk?
 * That needs a hook that runs in the resumed thread (a kprobe or fentry on finish_task_switch);
 * kernels built without CONFIG_KPROBES, or where fentry programs are refused (both true of the
 * development kernel, 6.18), have none, while tp_btf/sched_switch exists on every kernel profkit
 * supports. The cost of walking every recorded
 * switch is bounded by off_cpu_sample_every instead (bench/offcpu.sh measures it).
 *
 * Included by profiler.bpf.c only: it needs record_current_stacks(). */
#ifndef PROFKIT_OFF_CPU_BPF_H_
#define PROFKIT_OFF_CPU_BPF_H_

#include <bpf/bpf_tracing.h>

#include "profkit/bpf_abi.h"

/* include/linux/sched.h; macros are not in vmlinux.h. */
#define PROFKIT_PF_KTHREAD 0x00200000
#define PROFKIT_TASK_DEAD 0x00000080

/* Kernel frames above __schedule in a tp_btf program's stack: the program itself and
 * bpf_trace_run4, which calls it. */
#define PROFKIT_OFF_CPU_SKIP 2

/* Set by userspace before load (SamplerOptions::off_cpu). */
const volatile __u32 off_cpu_sample_every = 1;
const volatile __u64 off_cpu_min_ns = 1000000;
const volatile bool off_cpu_kernel_threads = false;
/* The agent's own process (its tgid as the kernel numbers it): its waits are not the host's. */
const volatile __u32 agent_tgid = 0;

/* Switch-out time (the OFF_CPU record's ktime_ns) of a recorded thread now off CPU; 0 when it is
 * not waiting, or its wait was not recorded. Task-local storage rather than a hash by tid: it is
 * a pointer away from the task (no hashing on every switch of the host), it holds any number of
 * sleeping threads, and the kernel frees it with its thread, so no entry outlives a thread whose
 * id is then reused. */
struct off_cpu_wait {
  __u64 switch_out_ns;
};
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct off_cpu_wait);
} off_cpu_waits SEC(".maps");

/* `next` runs again: ends its recorded wait, if any. The clock is read only for the switches
 * that need it: this runs on every context switch of the host. */
static __always_inline void end_wait(struct task_struct *next) {
  struct off_cpu_wait *wait = bpf_task_storage_get(&off_cpu_waits, next, 0, 0);
  if (!wait || wait->switch_out_ns == 0) return;
  __u64 switch_out = wait->switch_out_ns;
  wait->switch_out_ns = 0;
  __u64 off_cpu_ns = bpf_ktime_get_ns() - switch_out;
  if (off_cpu_ns < off_cpu_min_ns) {
    profkit_count(PROFKIT_COUNTER_OFF_CPU_SHORT);
    return;
  }
  struct profkit_off_cpu_end *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    profkit_count(PROFKIT_COUNTER_RINGBUF_DROPS);
    profkit_count(PROFKIT_COUNTER_OFF_CPU_DROPPED);
    return;
  }
  __u32 weight = off_cpu_sample_every > 0 ? off_cpu_sample_every : 1;
  e->kind = PROFKIT_EVENT_OFF_CPU_END;
  e->pid = next->tgid;
  e->tid = next->pid;
  e->off_cpu_events = weight;
  e->switch_out_ktime_ns = switch_out;
  e->off_cpu_ns = off_cpu_ns * weight;
  bpf_ringbuf_submit(e, profkit_wakeup_flags());
}

/* `prev` leaves the CPU: records its stacks, 1 in off_cpu_sample_every times. */
static __always_inline void begin_wait(void *ctx, struct task_struct *prev,
                                       unsigned int prev_state) {
  __u32 tid = prev->pid;
  /* The idle task waits for nothing. */
  if (tid == 0) return;
  if (!off_cpu_kernel_threads && (prev->flags & PROFKIT_PF_KTHREAD)) return;
  if (prev->tgid == agent_tgid) return;
  /* A dying thread's last switch: it never runs again. */
  if (prev_state & PROFKIT_TASK_DEAD) return;
  profkit_count(PROFKIT_COUNTER_OFF_CPU_SWITCHES);
  /* 1 in N switches; its wait then counts for N (weighted back in the end record). */
  if (off_cpu_sample_every > 1 && bpf_get_prandom_u32() % off_cpu_sample_every != 0) return;
  profkit_count(PROFKIT_COUNTER_OFF_CPU_SAMPLED);
  __u64 now = bpf_ktime_get_ns();
  __u32 weight = off_cpu_sample_every > 0 ? off_cpu_sample_every : 1;
  if (!record_current_stacks(ctx, PROFKIT_EVENT_OFF_CPU, now, weight, PROFKIT_OFF_CPU_SKIP)) {
    profkit_count(PROFKIT_COUNTER_OFF_CPU_DROPPED);
    return;
  }
  struct off_cpu_wait *wait =
      bpf_task_storage_get(&off_cpu_waits, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!wait) {
    profkit_count(PROFKIT_COUNTER_OFF_CPU_DROPPED);
    return;
  }
  wait->switch_out_ns = now;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(profkit_off_cpu_switch, bool preempt, struct task_struct *prev,
             struct task_struct *next, unsigned int prev_state) {
  end_wait(next);
  begin_wait(ctx, prev, prev_state);
  return 0;
}

#endif /* PROFKIT_OFF_CPU_BPF_H_ */
