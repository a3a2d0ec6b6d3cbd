/* Off-CPU profiling: how long threads wait, and where (README.md, "Off-CPU and wall-clock
 * profiles"). One program on tp_btf/sched_switch, loaded and attached only when [ebpf] off_cpu
 * is on, does both halves of a wait:
 *
 *  - `prev`, leaving the CPU: after cheap filters and the 1-in-N decision (a per-CPU countdown),
 *    its switch-out time is kept in its task storage and, unless its last timed wait was short
 *    (see begin_wait), its kernel, user and Python stacks are walked and written as a
 *    PROFKIT_EVENT_OFF_CPU record. The walk has to happen here: the stack walkers read the
 *    *current* task's registers and memory (bpf_get_stack, bpf_task_pt_regs of the current task,
 *    bpf_probe_read_user), and at sched_switch the current task is still `prev` (its address
 *    space too: switch_mm comes after the tracepoint). The kernel stack seen from here is the
 *    wait path itself (__schedule ← schedule ← futex_wait / do_sys_poll / pipe_read ...).
 *  - `next`, coming back: if its switch-out was sampled, how long it was away is now known; a
 *    walked wait of at least the minimum gets a small PROFKIT_EVENT_OFF_CPU_END record, which
 *    userspace pairs with the switch-out record by (tid, ktime).
 *
 * This runs on every context switch of the host (350,000 a second in bench/offcpu.sh), so the
 * unsampled switches, nearly all of them, do no helper call, no map update but a per-CPU counter,
 * no clock read and no task-storage lookup: a few loads from the two tasks, the countdown and one
 * read of off_cpu_pending.
 *
 * Why not walk when the thread runs again, in its own context, so that short waits cost no walk?
 * That needs a hook that runs in the resumed thread (a kprobe or fentry on finish_task_switch);
 * kernels built without CONFIG_KPROBES, or where fentry programs are refused (both true of the
 * development kernel, 6.18), have none, while tp_btf/sched_switch exists on every kernel profkit
 * supports. The walks are bounded by off_cpu_sample_every and by walking threads that keep
 * waiting briefly less often instead (bench/offcpu.sh measures both).
 *
 * Included by profiler.bpf.c only: it needs record_current_stacks(). */
#ifndef PROFKIT_OFF_CPU_BPF_H_
#define PROFKIT_OFF_CPU_BPF_H_

#include <bpf/bpf_tracing.h>

#include "profkit/bpf_abi.h"

/* include/linux/sched.h; macros are not in vmlinux.h. */
#define PROFKIT_PF_KTHREAD 0x00200000
#define PROFKIT_TASK_DEAD 0x00000080
/* prev_state of a preempted task: it is still runnable. */
#define PROFKIT_TASK_RUNNING 0x00000000

/* Kernel frames above __schedule in a tp_btf program's stack: the program itself and
 * bpf_trace_run4, which calls it. */
#define PROFKIT_OFF_CPU_SKIP 2

/* Set by userspace before load (SamplerOptions::off_cpu). */
const volatile __u32 off_cpu_sample_every = 1;
const volatile __u64 off_cpu_min_ns = 1000000;
const volatile bool off_cpu_kernel_threads = false;
/* Of the sampled switches of a thread whose last timed wait was under the minimum, 1 in this many
 * is walked (see begin_wait); 1 walks them all. */
const volatile __u32 off_cpu_short_walk_every = 1;
/* The agent's own process (its tgid as the kernel numbers it): its waits are not the host's. */
const volatile __u32 agent_tgid = 0;

/* A sampled wait in progress: set when a sampled thread leaves the CPU, cleared when it runs
 * again. Task-local storage rather than a hash by tid: it is a pointer away from the task (no
 * hashing), it holds any number of sleeping threads, and the kernel frees it with its thread, so
 * no entry outlives a thread whose id is then reused. Created at the thread's first sampled
 * switch only: unsampled switches never touch it. */
struct off_cpu_wait {
  __u64 switch_out_ns; /* the OFF_CPU record's ktime_ns; 0 when no sampled wait is in progress */
  /* What the wait counts for (its end record's off_cpu_events); 0 for a timed-only wait, whose
   * stacks were not walked. */
  __u32 weight;
  /* Whether the thread's last timed wait of each kind (index: 1 when it was preempted, 0 when it
   * blocked) was shorter than the minimum: its next sampled switch of that kind is walked only 1
   * in off_cpu_short_walk_every times (see begin_wait). */
  __u8 last_wait_short[2];
  /* The kind of the wait in progress (the index above). */
  __u8 preempted;
};
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct off_cpu_wait);
} off_cpu_waits SEC(".maps");

/* Per-CPU countdown to the next sampled switch. Drawing a random number on every switch costs a
 * helper call on every switch of the host; a countdown costs a decrement, and the random draw is
 * only made when it runs out: the next gap is uniform in 1..2N-1 (mean N), so a strictly periodic
 * pattern (two threads taking turns) cannot line up with the sampling. */
struct off_cpu_cpu {
  __u32 countdown; /* switches left before the next sampled one; 0 before the first */
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct off_cpu_cpu);
} off_cpu_cpus SEC(".maps");

/* Sampled waits in progress, counted by tid modulo the slots: the thread coming back looks up its
 * task storage only when its slot is not 0, so the switches of threads with no sampled wait (all
 * but a few) cost one array read instead of a helper call. The task storage stays the truth; a
 * slot shared by two tids only costs a lookup. */
#define PROFKIT_OFF_CPU_PENDING_SLOTS 4096
/* 64-bit: clang 14 emits only 64-bit atomic adds for BPF's default CPU version. */
__u64 off_cpu_pending[PROFKIT_OFF_CPU_PENDING_SLOTS];

static __always_inline __u64 *pending_slot(struct task_struct *task) {
  return &off_cpu_pending[task->pid & (PROFKIT_OFF_CPU_PENDING_SLOTS - 1)];
}

/* `next` runs again: ends its sampled wait, if any. */
static __always_inline void end_wait(struct task_struct *next) {
  __u64 *pending = pending_slot(next);
  if (*pending == 0) return;
  struct off_cpu_wait *wait = bpf_task_storage_get(&off_cpu_waits, next, 0, 0);
  if (!wait || wait->switch_out_ns == 0) return;
  __sync_fetch_and_add(pending, -1);
  __u64 switch_out = wait->switch_out_ns;
  wait->switch_out_ns = 0;
  __u64 off_cpu_ns = bpf_ktime_get_ns() - switch_out;
  bool short_wait = off_cpu_ns < off_cpu_min_ns;
  wait->last_wait_short[wait->preempted & 1] = short_wait;
  __u32 weight = wait->weight;
  if (weight == 0) return; /* timed only: no stacks to attribute it to */
  if (short_wait) {
    profkit_count(PROFKIT_COUNTER_OFF_CPU_SHORT);
    return;
  }
  struct profkit_off_cpu_end *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    profkit_count(PROFKIT_COUNTER_RINGBUF_DROPS);
    profkit_count(PROFKIT_COUNTER_OFF_CPU_DROPPED);
    return;
  }
  e->kind = PROFKIT_EVENT_OFF_CPU_END;
  e->pid = next->tgid;
  e->tid = next->pid;
  e->off_cpu_events = weight;
  e->switch_out_ktime_ns = switch_out;
  e->off_cpu_ns = off_cpu_ns * weight;
  bpf_ringbuf_submit(e, profkit_wakeup_flags());
}

/* The 1-in-off_cpu_sample_every decision, taken on every switch that passed the filters. */
static __always_inline bool sample_switch(void) {
  __u32 every = off_cpu_sample_every;
  if (every <= 1) return true;
  __u32 zero = 0;
  struct off_cpu_cpu *cpu = bpf_map_lookup_elem(&off_cpu_cpus, &zero);
  if (!cpu) return false;
  if (cpu->countdown > 1) {
    cpu->countdown -= 1;
    return false;
  }
  /* 0: this CPU's first switch, which only draws the first gap. */
  bool sampled = cpu->countdown == 1;
  cpu->countdown = bpf_get_prandom_u32() % (2 * every - 1) + 1;
  return sampled;
}

/* `prev` leaves the CPU: 1 in off_cpu_sample_every times, times its wait and records its stacks. */
static __always_inline void begin_wait(void *ctx, struct task_struct *prev,
                                       unsigned int prev_state) {
  /* The idle task waits for nothing. */
  if (prev->pid == 0) return;
  if (!off_cpu_kernel_threads && (prev->flags & PROFKIT_PF_KTHREAD)) return;
  if (prev->tgid == agent_tgid) return;
  /* A dying thread's last switch: it never runs again. */
  if (prev_state & PROFKIT_TASK_DEAD) return;
  profkit_count(PROFKIT_COUNTER_OFF_CPU_SWITCHES);
  if (!sample_switch()) return;
  profkit_count(PROFKIT_COUNTER_OFF_CPU_SAMPLED);
  struct off_cpu_wait *wait =
      bpf_task_storage_get(&off_cpu_waits, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (!wait) {
    profkit_count(PROFKIT_COUNTER_OFF_CPU_DROPPED);
    return;
  }
  /* A wait still in progress means its end was never seen (the program did not run for that
   * switch back in): it is replaced, as it would be lost anyway, and counted in its slot once. */
  if (wait->switch_out_ns == 0) __sync_fetch_and_add(pending_slot(prev), 1);
  __u32 weight = off_cpu_sample_every > 0 ? off_cpu_sample_every : 1;
  /* A thread whose last timed wait was short is likely to wait briefly again, and a walk wasted on
   * a wait under the minimum is most of the cost on a busy host: it is walked 1 in K times
   * (counting K times more), else only timed, which tells whether it still waits briefly. The
   * choice is made before the wait's length is known, so weighting by 1/probability keeps the
   * totals unbiased (README, "Off-CPU and wall-clock profiles"). The history is kept apart for
   * preemptions (a runnable thread waits for a CPU, mostly briefly) and blocking (it waits for
   * an event): a thread preempted in its CPU burst and then sleeping long is walked at its sleep
   * every time, not 1 in K with K times the weight, which would make its sleep's figure jumpy. */
  const __u8 preempted = prev_state == PROFKIT_TASK_RUNNING;
  __u32 short_every = off_cpu_short_walk_every;
  if (wait->last_wait_short[preempted] && short_every > 1) {
    weight = bpf_get_prandom_u32() % short_every == 0 ? weight * short_every : 0;
  }
  __u64 now = bpf_ktime_get_ns();
  if (weight != 0) {
    if (!record_current_stacks(ctx, PROFKIT_EVENT_OFF_CPU, now, weight, PROFKIT_OFF_CPU_SKIP)) {
      profkit_count(PROFKIT_COUNTER_OFF_CPU_DROPPED);
      weight = 0; /* still timed: its length decides how the thread's next sample is walked */
    }
  }
  wait->switch_out_ns = now;
  wait->weight = weight;
  wait->preempted = preempted;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(profkit_off_cpu_switch, bool preempt, struct task_struct *prev,
             struct task_struct *next, unsigned int prev_state) {
  end_wait(next);
  begin_wait(ctx, prev, prev_state);
  return 0;
}

#endif /* PROFKIT_OFF_CPU_BPF_H_ */
