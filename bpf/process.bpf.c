/* Process lifecycle events, so userspace learns about new programs (exec), new processes (fork)
 * and processes whose state it may drop (exit) without rescanning /proc. Threads are ignored:
 * their samples carry the tgid already. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "profkit/bpf_abi.h"
#include "profkit_maps.h"

static __always_inline void emit_process_event(__u32 kind, struct task_struct *task, __u32 ppid,
                                               __u64 wakeup_flags) {
  struct profkit_process_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    profkit_count(PROFKIT_COUNTER_RINGBUF_DROPS);
    return;
  }
  e->kind = kind;
  e->pid = BPF_CORE_READ(task, tgid);
  e->ppid = ppid;
  /* The ring buffer is not zeroed; a failed read must not leak stale bytes as a name. */
  if (bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), &task->comm) < 0) e->comm[0] = '\0';
  bpf_ringbuf_submit(e, wakeup_flags);
}

/* Fires after the new image is loaded, so comm is already the new program's name. The reader is
 * woken at once: a program that runs for a few milliseconds must have its /proc/PID/maps read
 * while it still exists, or its samples cannot be symbolized. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(profkit_exec, struct task_struct *p) {
  __u32 tgid = BPF_CORE_READ(p, tgid);
  __u32 wakeups = PROFKIT_NEW_PROGRAM_WAKEUPS;
  bpf_map_delete_elem(&python_processes, &tgid);
  bpf_map_update_elem(&new_programs, &tgid, &wakeups, BPF_ANY);
  emit_process_event(PROFKIT_EVENT_EXEC, p, BPF_CORE_READ(p, real_parent, tgid),
                     BPF_RB_FORCE_WAKEUP);
  return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(profkit_fork, struct task_struct *parent, struct task_struct *child) {
  /* A new thread has pid != tgid; only a new thread group is a new process. */
  if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid)) return 0;
  emit_process_event(PROFKIT_EVENT_FORK, child, BPF_CORE_READ(parent, tgid),
                     profkit_wakeup_flags());
  return 0;
}

/* Fires for every exiting thread; the group leader's exit stands for the process's. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(profkit_exit, struct task_struct *p) {
  __u32 tgid = BPF_CORE_READ(p, tgid);
  if (BPF_CORE_READ(p, pid) != tgid) return 0;
  /* Its pid may be reused by a program that is not Python, or another version. */
  bpf_map_delete_elem(&python_processes, &tgid);
  bpf_map_delete_elem(&new_programs, &tgid);
  emit_process_event(PROFKIT_EVENT_EXIT, p, BPF_CORE_READ(p, real_parent, tgid),
                     profkit_wakeup_flags());
  return 0;
}
