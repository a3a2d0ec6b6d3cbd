/* The native stack walker: follows a process's user stack with the unwind tables userspace built
 * from its files' .eh_frame (include/profkit/bpf_abi.h, userspace/unwind), stepping by frame
 * pointer through mappings that have none (JIT code, Go, hand-written assembly). One frame per
 * bpf_loop iteration, so the depth costs no program size. Used for processes userspace registered
 * in unwind_processes; the others keep bpf_get_stack()'s frame-pointer walk. Included by
 * profiler.bpf.c only; it needs that file's scratch map. */
#ifndef PROFKIT_NATIVE_UNWINDER_BPF_H_
#define PROFKIT_NATIVE_UNWINDER_BPF_H_

#include "profkit/bpf_abi.h"
#include "user_window.bpf.h"

/* Every row of every loaded table, their pages and the rules they share, written by userspace
 * (UnwindTableStore, userspace/unwind/packed_unwind_table.cc). The row and page arrays are sized
 * by the configured cap ([ebpf] unwind_table_max_mb) before load. */
/* Memory-mapped by userspace, which copies a table in with memcpy: the update syscalls it replaces
 * were the agent's largest cost during a C++ build (a compiler's table is ~2M rows). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct profkit_unwind_row_pair);
} unwind_rows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct profkit_unwind_page);
} unwind_pages SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct profkit_unwind_info);
} unwind_infos SEC(".maps");

/* The mappings with tables of each process that userspace set up, by tgid. Allocated on insert
 * (4 KiB each), so only processes that were sampled cost memory. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct profkit_unwind_process);
} unwind_processes SEC(".maps");

/* Binary-search steps, each halving the count of candidates (rounding up): over a process's
 * mappings (2^7 = PROFKIT_UNWIND_MAX_MAPPINGS) and over a page's rows (at most one per byte of a
 * 4 KiB page: 2^12). */
#define PROFKIT_UNWIND_MAPPING_STEPS 7
#define PROFKIT_UNWIND_ROW_STEPS 12
/* x86-64 struct rt_sigframe at the signal trampoline's RSP: the ucontext's sigcontext starts at
 * +40 (after pretcode was popped by the handler's return: uc_flags, uc_link, uc_stack), and in it
 * rbp is word 10, rsp word 15, rip word 16. */
#define PROFKIT_SIGCONTEXT_RBP_OFFSET (40 + 10 * 8)
#define PROFKIT_SIGCONTEXT_WORDS 7 /* rbp .. rip */

struct native_walk {
  __u64 pc;
  __u64 sp;
  __u64 bp;
  /* Looked up once per walk, not per frame: the process's mappings, the sample being written, and
   * the mapping of the previous frame (consecutive frames are mostly in one file, and the mapping
   * search is a bpf_loop of its own). */
  const struct profkit_unwind_process *process;
  struct profkit_sample_scratch *scratch;
  const struct profkit_unwind_mapping *mapping;
  /* The stack's words are read through this window (return addresses and saved RBPs of
   * consecutive frames are mostly within one block), lowest address first within a frame, so a
   * walk up the stack moves the window up only. */
  struct user_window stack;
  __u32 first_slot; /* where the user IPs start in the sample's IPs: after the kernel ones */
  __u32 depth;      /* user IPs written */
  /* pc is an interrupted instruction (the first frame, the frame a signal interrupted), not a
   * return address: its row is looked up at pc itself rather than pc - 1. */
  bool exact_pc;
  bool complete; /* the walk reached the stack's end */
  /* The first frame had no row (its file's table is not loaded yet, or it has none): the
   * frame-pointer step from it misses the caller of a frameless leaf, so the sample carries the
   * words at the user stack pointer for userspace to find that caller from the leaf's CFI. */
  bool leaf_by_frame_pointer;
};

/* All ones when a < b, else 0: the sign of their difference, exact for values below 2^63 (user
 * addresses, page offsets). The barriers hide the values' origin from the compiler, which would
 * turn the arithmetic back into a branch. */
static __always_inline __u32 unwind_below_mask(__u64 a, __u64 b) {
  __s64 difference = (__s64)(a - b);
  barrier_var(difference);
  __u32 below = (__u32)(difference >> 63);
  barrier_var(below);
  return below;
}

/* Row `index` of unwind_rows (two rows per array element). */
static __always_inline const struct profkit_unwind_row *unwind_row_at(__u32 index) {
  __u32 key = index >> 1;
  const struct profkit_unwind_row_pair *pair = bpf_map_lookup_elem(&unwind_rows, &key);
  return pair ? &pair->rows[index & 1] : NULL;
}

/* The index in unwind_infos of the rule of page `page_key` (of unwind_pages) at byte `pc_low` of
 * the page, or -1. A global function: the verifier checks it once, on its own, and its callers
 * see one call returning a number, rather than every failure path of its map lookups joined to
 * the rest of the walk's paths (which took the walk past the verifier's instruction budget). */
__attribute__((noinline)) int profkit_unwind_page_rule(__u32 page_key, __u32 pc_low) {
  const struct profkit_unwind_page *page = bpf_map_lookup_elem(&unwind_pages, &page_key);
  if (!page) return -1;
  __u32 base = page->first_row;
  __u32 count = page->row_count;
  if (count == 0 || pc_low >= PROFKIT_UNWIND_PAGE_SIZE) return -1;
  if (count > PROFKIT_UNWIND_PAGE_SIZE) count = PROFKIT_UNWIND_PAGE_SIZE; /* one row per byte */
    /* Branch-free binary search, unrolled: a step moves `base` up by `half` when that row starts at
     * or below pc, by arithmetic on the comparison's sign (unwind_below_mask), not a branch.
     * Without branches the verifier sees one path (a loop with branches had it explore their
     * combinations, and as a bpf_loop every step was a call, which the return-thunk mitigations
     * make dear). Invariant: the row at base starts at or below pc (a page's first row is at its
     * first byte) and the covering row is in [base, base + count). */
#pragma unroll
  for (int step = 0; step < PROFKIT_UNWIND_ROW_STEPS; step++) {
    __u32 half = count >> 1;
    const struct profkit_unwind_row *probe = unwind_row_at(base + half);
    if (!probe) return -1;
    base += half & ~unwind_below_mask(pc_low, probe->pc_low);
    count -= half;
  }
  const struct profkit_unwind_row *row = unwind_row_at(base);
  if (!row || row->pc_low > pc_low) return -1;
  return row->info;
}

/* The rule covering file address `file_pc` of `mapping`'s file, or NULL outside its pages. */
static __always_inline const struct profkit_unwind_info *unwind_find_info(
    const struct profkit_unwind_mapping *mapping, __u64 file_pc) {
  __u64 page_number = file_pc >> PROFKIT_UNWIND_PAGE_SHIFT;
  if (page_number < mapping->page_base || page_number - mapping->page_base >= mapping->page_count) {
    return NULL;
  }
  int info =
      profkit_unwind_page_rule(mapping->first_page + (__u32)(page_number - mapping->page_base),
                               file_pc & (PROFKIT_UNWIND_PAGE_SIZE - 1));
  if (info < 0) return NULL;
  __u32 info_key = info;
  return bpf_map_lookup_elem(&unwind_infos, &info_key);
}

/* The process's mapping containing `pc`, or NULL. The same branch-free search as the rows' (see
 * profkit_unwind_page_rule), over the mappings sorted by start. */
static __always_inline const struct profkit_unwind_mapping *unwind_find_mapping(
    const struct profkit_unwind_process *process, __u64 pc) {
  __u32 count = process->count;
  if (count == 0) return NULL;
  if (count > PROFKIT_UNWIND_MAX_MAPPINGS) count = PROFKIT_UNWIND_MAX_MAPPINGS;
  __u32 base = 0;
#pragma unroll
  for (int step = 0; step < PROFKIT_UNWIND_MAPPING_STEPS; step++) {
    __u32 half = count >> 1;
    __u64 start = process->mappings[(base + half) & (PROFKIT_UNWIND_MAX_MAPPINGS - 1)].start;
    base += half & ~unwind_below_mask(pc, start);
    count -= half;
  }
  const struct profkit_unwind_mapping *m =
      &process->mappings[base & (PROFKIT_UNWIND_MAX_MAPPINGS - 1)];
  return pc >= m->start && pc < m->end ? m : NULL;
}

/* The frame-pointer step: [bp] is the caller's bp, [bp + 8] the return address. */
static __always_inline bool unwind_fp_step(struct native_walk *w) {
  __u64 next_bp = 0;
  __u64 ra = 0;
  if (w->bp <= w->sp || !user_window_read_u64(&w->stack, &next_bp, w->bp) ||
      !user_window_read_u64(&w->stack, &ra, w->bp + 8)) {
    return false;
  }
  w->sp = w->bp + 16;
  w->bp = next_bp;
  w->pc = ra;
  w->exact_pc = false;
  /* Counted here, not in `w`: a counter in the loop's context is a distinct constant in every
   * iteration to the verifier, whose states then never converge. */
  profkit_count(PROFKIT_COUNTER_UNWIND_FP_FRAMES);
  return true;
}

/* Records the current frame and steps to its caller. Returns 1 (stop) at the end of the stack or
 * when the walk cannot go on. */
static long unwind_step(__u64 index, void *ctx) {
  struct native_walk *w = ctx;
  if (w->pc == 0) {
    w->complete = true; /* a zero return address ends glibc's thread stacks */
    return 1;
  }
  struct profkit_sample_scratch *s = w->scratch;
  if (!s) return 1;
  /* The frame's slot comes from bpf_loop's index, which the verifier sees as any value below the
   * loop count: a counter kept in `w` would be tracked exactly and every iteration verified anew,
   * past the verifier's instruction budget. index == frames written so far. */
  __u64 slot = (__u64)w->first_slot + index;
  barrier_var(slot);
  if (slot >= PROFKIT_MAX_STACK_DEPTH + PROFKIT_MAX_USER_STACK_DEPTH) return 1;
  ((__u64 *)s->body)[slot] = w->pc;
  w->depth = index + 1;

  const struct profkit_unwind_process *process = w->process;
  if (!process) return 1;
  const struct profkit_unwind_mapping *mapping = w->mapping;
  if (!mapping || w->pc < mapping->start || w->pc >= mapping->end) {
    mapping = unwind_find_mapping(process, w->pc);
    w->mapping = mapping;
  }
  const struct profkit_unwind_info *row = NULL;
  if (mapping) {
    /* A return address points after the call, possibly past the caller's last row. */
    __u64 file_pc = w->pc - mapping->bias - (w->exact_pc ? 0 : 1);
    row = unwind_find_info(mapping, file_pc);
  }
  if (!row || row->kind == PROFKIT_UNWIND_NONE) {
    if (index == 0) w->leaf_by_frame_pointer = true;
    return unwind_fp_step(w) ? 0 : 1;
  }

  __u64 cfa = 0;
  switch (row->kind) {
    case PROFKIT_UNWIND_CFA_RSP:
      cfa = w->sp + (__u64)row->cfa_offset * 8;
      break;
    case PROFKIT_UNWIND_CFA_RBP:
      cfa = w->bp + (__u64)row->cfa_offset * 8;
      break;
    case PROFKIT_UNWIND_PLT:
      cfa = w->sp + 8 + ((w->pc & 15) >= row->cfa_offset ? 8 : 0);
      break;
    case PROFKIT_UNWIND_SIGNAL: {
      __u64 regs[PROFKIT_SIGCONTEXT_WORDS];
      if (bpf_probe_read_user(regs, sizeof(regs),
                              (const void *)(w->sp + PROFKIT_SIGCONTEXT_RBP_OFFSET)) != 0) {
        return 1;
      }
      w->bp = regs[0];
      w->sp = regs[5];
      w->pc = regs[6];
      w->exact_pc = true;
      return 0;
    }
    case PROFKIT_UNWIND_END:
      w->complete = true;
      return 1;
    default:
      return 1; /* unsupported CFI */
  }
  if (cfa <= w->sp) return 1;
  /* The saved RBP first: it lies below the return address (pushed after it). */
  if (row->rbp_offset != 0 &&
      !user_window_read_u64(&w->stack, &w->bp, cfa + (__s64)row->rbp_offset * 8)) {
    return 1;
  }
  __u64 ra = 0;
  if (!user_window_read_u64(&w->stack, &ra, cfa - 8)) return 1;
  w->sp = cfa;
  w->pc = ra;
  w->exact_pc = false;
  return 0;
}

/* Walks the current task's user stack with `process`'s tables into sample `s`'s IPs from
 * `first_slot` on; returns the number of frames, sets *complete when the walk reached the stack's
 * end and *leaf_by_frame_pointer when the first frame had no unwind row. */
static __always_inline __u32 unwind_user_stack(struct pt_regs *regs,
                                               const struct profkit_unwind_process *process,
                                               struct profkit_sample_scratch *s, __u32 first_slot,
                                               bool *complete, bool *leaf_by_frame_pointer) {
  struct native_walk w = {
      .pc = regs->ip,
      .sp = regs->sp,
      .bp = regs->bp,
      .process = process,
      .scratch = s,
      .stack = user_window_empty(&s->window),
      .first_slot = first_slot,
      .exact_pc = true,
  };
  bpf_loop(PROFKIT_MAX_USER_STACK_DEPTH, unwind_step, &w, 0);
  *complete = w.complete;
  *leaf_by_frame_pointer = w.leaf_by_frame_pointer;
  return w.depth;
}

#endif /* PROFKIT_NATIVE_UNWINDER_BPF_H_ */
