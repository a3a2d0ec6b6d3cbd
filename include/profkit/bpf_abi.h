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

/* User frames kept when the native unwinder (.eh_frame tables) walks the stack; bpf_get_stack()'s
 * frame-pointer walk keeps PROFKIT_MAX_STACK_DEPTH. A power of two: the walker masks with it. */
#define PROFKIT_MAX_USER_STACK_DEPTH 256

/* Words copied from the interrupted user stack pointer upward. A frame-pointer walk starts from
 * the caller's frame when the innermost function has not set up its own (frameless leaf
 * functions, libc's system-call wrappers, prologues); its return address is then in one of these
 * words, and userspace finds which from the function's CFI. 8 words cover a frameless function
 * that saved up to 7 registers. */
#define PROFKIT_STACK_TOP_WORDS 8

/* CPython frames kept per sample. Enough for the deepest ordinary Python programs (recursion a few
 * hundred deep, frameworks ~100); deeper stacks keep their innermost frames and are flagged
 * PROFKIT_SAMPLE_PYTHON_TRUNCATED. A power of two: the walker masks its index with it. */
#define PROFKIT_MAX_PYTHON_FRAMES 512

/* The first __u32 of every record. Zero is left unused so zeroed memory never decodes. */
enum profkit_event_kind {
  PROFKIT_EVENT_SAMPLE = 1,
  PROFKIT_EVENT_EXEC = 2,
  PROFKIT_EVENT_FORK = 3,
  PROFKIT_EVENT_EXIT = 4,
  /* A thread leaves the CPU (bpf/off_cpu.bpf.h): the layout of PROFKIT_EVENT_SAMPLE, the stacks
   * where it blocks, off_cpu_events set. How long it waits is not known yet: */
  PROFKIT_EVENT_OFF_CPU = 5,
  /* ... it is when the thread runs again: struct profkit_off_cpu_end, which names the
   * PROFKIT_EVENT_OFF_CPU record of the same tid and ktime_ns. Waits shorter than the minimum
   * get none, and userspace drops their stacks. */
  PROFKIT_EVENT_OFF_CPU_END = 6,
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
  /* The process is a registered CPython process; python_status says how the walk went. */
  PROFKIT_SAMPLE_PYTHON = 1u << 5,
  /* The Python stack had more than PROFKIT_MAX_PYTHON_FRAMES frames: the outermost are missing. */
  PROFKIT_SAMPLE_PYTHON_TRUNCATED = 1u << 6,
  /* The user stack was walked by the native unwinder (unwind tables, frame pointers where a
   * mapping has none) instead of bpf_get_stack(). */
  PROFKIT_SAMPLE_USER_STACK_UNWOUND = 1u << 7,
};
#define PROFKIT_SAMPLE_KNOWN_FLAGS 0xffu

/* profkit_sample_header.python_status, meaningful with PROFKIT_SAMPLE_PYTHON. */
enum profkit_python_status {
  PROFKIT_PYTHON_OK = 0,
  /* The interpreter has not created its thread-state key yet (start-up) or the key is outside the
   * thread-specific slots the walker reads; for a thread-local thread state (3.15+), the dynamic
   * loader has not yet filled in the library's TLS module id or this thread's TLS block of the
   * library is not allocated. */
  PROFKIT_PYTHON_NO_KEY = 1,
  /* This OS thread has no Python thread state: a native thread of a Python process. */
  PROFKIT_PYTHON_NO_THREAD_STATE = 2,
  /* Interpreter memory could not be read (paged out, or the walk met freed memory). The frames
   * read before the failure are kept. */
  PROFKIT_PYTHON_READ_ERROR = 3,
};
#define PROFKIT_PYTHON_STATUS_COUNT 4

/* profkit_python_frame.flags */
enum profkit_python_frame_flags {
  /* The outermost Python frame of one C-level call of the interpreter loop: the next frame (if
   * any) belongs to the eval-loop invocation further out on the native stack. */
  PROFKIT_PYTHON_FRAME_ENTRY = 1u << 0,
};

/* One CPython frame as the walker saw it; userspace reads the code object. */
struct profkit_python_frame {
  __u64 code_object; /* PyCodeObject* in the target's address space */
  /* Index of the executing instruction in the units of the version's line table: bytes
   * (f_lasti, 3.8/3.9) or code units (3.10+). Negative before the first instruction ran. */
  __s32 instruction;
  /* profkit_python_code_checksum() of the code object as BPF read it: userspace rejects a cached
   * code object whose checksum differs (the address was freed and reused). */
  __u16 checksum;
  __u16 flags; /* enum profkit_python_frame_flags */
};

/* Folds the code object's argcount, kwonlyargcount, flags and firstlineno into 16 bits. Shared
 * by the walker and userspace so both compute the same value. */
static inline __u16 profkit_python_code_checksum(__u32 argcount, __u32 kwonlyargcount, __u32 flags,
                                                 __u32 firstlineno) {
  __u32 h = firstlineno * 2654435761u;
  h ^= flags * 2246822519u;
  h ^= (argcount << 7) ^ (kwonlyargcount << 13);
  h ^= h >> 15;
  return (__u16)(h ^ (h >> 16));
}

/* How the walker finds frames in one CPython process (map python_processes, key = tgid). Filled
 * by userspace from the version's offsets; every offset is relative to its struct. */
/* profkit_python_process.thread_state_source: where the sampled thread's PyThreadState* is. */
enum profkit_python_thread_state_source {
  /* ≤ 3.14: the glibc thread-specific slot of the gilstate TSS key at tss_address. */
  PROFKIT_PYTHON_TSTATE_TSS = 0,
  /* 3.15+, executable's own TLS: *(fs_base + tls_offset). */
  PROFKIT_PYTHON_TSTATE_STATIC_TLS = 1,
  /* 3.15+, libpython.so's TLS: {module, offset} = *tls_index_address;
   * *(dtv[module].pointer + offset + tls_offset) with dtv = *(fs_base + 8). */
  PROFKIT_PYTHON_TSTATE_DYNAMIC_TLS = 2,
};

enum profkit_python_layout {
  /* 3.8–3.10: PyFrameObject chain; one frame per eval-loop invocation, f_lasti read directly. */
  PROFKIT_PYTHON_LAYOUT_FRAME_OBJECT = 1,
  /* 3.11+: _PyInterpreterFrame chain; instruction from the instruction pointer. */
  PROFKIT_PYTHON_LAYOUT_INTERPRETER_FRAME = 2,
};

#define PROFKIT_PYTHON_NO_OFFSET 0xffffu
/* Bytes of a frame / code object the walker copies in one read: covers every field it needs in
 * every supported version (largest: 3.8/3.9 f_lasti at 104; code object fields below 80). */
#define PROFKIT_PYTHON_FRAME_READ_BYTES 112
#define PROFKIT_PYTHON_CODE_READ_BYTES 80

struct profkit_python_process {
  /* Py_tss_t {int _is_initialized; int _key} of the gilstate TSS key, read on every sample (it
   * is created during interpreter start-up, possibly after the process was registered).
   * PROFKIT_PYTHON_TSTATE_TSS only. */
  __u64 tss_address;
  /* PROFKIT_PYTHON_TSTATE_DYNAMIC_TLS: the GOT entry (struct tls_index) in the target, read on
   * every sample because the dynamic loader fills it in after the library is mapped. */
  __u64 tls_index_address;
  /* The TLS variable's displacement: from fs_base (STATIC_TLS) or from the module's TLS block
   * plus tls_index.ti_offset (DYNAMIC_TLS). */
  __s64 tls_offset;
  /* 3.13+: &_Py_NoneStruct, the executable of entry frames; 0 before 3.13. */
  __u64 none_address;
  /* glibc's struct pthread: slot of key k < 32 at fs_base + tsd_first_block + k*16 (+8 for the
   * value); keys 32..1023 through the block pointer at fs_base + tsd_second_level + (k/32)*8. */
  __u16 tsd_first_block;
  __u16 tsd_second_level;
  __u16 layout; /* enum profkit_python_layout */
  /* PyThreadState: frame (≤3.10), cframe (3.11/3.12) or current_frame (3.13+). */
  __u16 thread_frame;
  /* _PyCFrame.current_frame when thread_frame points at a cframe, else NO_OFFSET. */
  __u16 cframe_current_frame;
  __u16 frame_previous;    /* f_back / previous */
  __u16 frame_code;        /* f_code / f_executable */
  __u16 frame_instruction; /* f_lasti (int) / prev_instr, instr_ptr (pointer) */
  /* char owner, 3.12+: values >= 3 (FRAME_OWNED_BY_CSTACK in 3.12/3.13, _INTERPRETER and
   * _CSTACK in 3.14, _INTERPRETER in 3.15) mark entry/sentinel frames that are no function. */
  __u16 frame_owner;
  __u16 frame_is_entry;   /* bool is_entry, 3.11 */
  __u16 frame_read_bytes; /* ≤ PROFKIT_PYTHON_FRAME_READ_BYTES, within the frame struct */
  __u16 code_adaptive;    /* 3.11+: offset of co_code_adaptive (instruction index base) */
  __u16 code_argcount;
  __u16 code_kwonlyargcount;
  __u16 code_flags;
  __u16 code_firstlineno;
  __u16 thread_state_source; /* enum profkit_python_thread_state_source */
  /* PyThreadState.base_frame (3.15+): the walk ends at this sentinel frame; else NO_OFFSET. */
  __u16 thread_base_frame;
  /* Low bits of frame_code that are tags, not address (3.14+ _PyStackRef: 3); 0 before. */
  __u16 frame_code_tag_bits;
  __u16 reserved;
};

/* A PROFKIT_EVENT_SAMPLE record is this header followed by
 * __u64 ips[kernel_depth + user_depth]: kernel IPs then user IPs, innermost first in each part,
 * then struct profkit_python_frame python[python_depth], innermost first. Records are variable
 * length: only the used slots are written to the ring buffer. */
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
  __u16 python_depth;
  __u16 python_status; /* enum profkit_python_status */
  /* PROFKIT_EVENT_OFF_CPU: the switches this record stands for (1 in off_cpu_sample_every
   * switches is recorded, so each counts for that many); 0 in CPU samples. */
  __u32 off_cpu_events;
};

/* PROFKIT_EVENT_OFF_CPU_END: the thread of a PROFKIT_EVENT_OFF_CPU record runs again. */
struct profkit_off_cpu_end {
  __u32 kind; /* PROFKIT_EVENT_OFF_CPU_END */
  __u32 pid;  /* tgid */
  __u32 tid;
  __u32 off_cpu_events;      /* as in the switch-out record */
  __u64 switch_out_ktime_ns; /* the switch-out record's ktime_ns */
  /* How long the thread was off CPU, times off_cpu_events (weighted back so totals stay right
   * under 1-in-N sampling). */
  __u64 off_cpu_ns;
};

/* PROFKIT_EVENT_EXEC, _FORK (a new process, not a thread) and _EXIT (the thread group leader). */
struct profkit_process_event {
  __u32 kind;
  __u32 pid;  /* tgid */
  __u32 ppid; /* tgid of the parent */
  char comm[PROFKIT_COMM_LEN];
};

/* Native unwinding from .eh_frame (README.md, "How native stacks are unwound"). userspace/unwind
 * reduces a file's CFI to rules by address range: from one address on, until the next, the
 * caller's frame is found so. Addresses are ELF virtual addresses in the file (a mapping's address
 * minus its load bias). The caller's return address is always at CFA-8 (rules where CFI says
 * otherwise are PROFKIT_UNWIND_UNSUPPORTED). */
enum profkit_unwind_kind {
  /* No FDE covers this address (a gap between functions): walk by frame pointer. */
  PROFKIT_UNWIND_NONE = 0,
  /* CFA = RSP + cfa_offset * 8. */
  PROFKIT_UNWIND_CFA_RSP = 1,
  /* CFA = RBP + cfa_offset * 8. */
  PROFKIT_UNWIND_CFA_RBP = 2,
  /* A PLT entry (16-byte slots; GCC/binutils' expression): CFA = RSP + 8, + 8 more when
   * (RIP & 15) >= cfa_offset. */
  PROFKIT_UNWIND_PLT = 3,
  /* The signal trampoline (__restore_rt): the interrupted registers are in the kernel's
   * rt_sigframe at RSP (ucontext's sigcontext at RSP + 40). */
  PROFKIT_UNWIND_SIGNAL = 4,
  /* The return address is undefined: the outermost frame (_start, clone3's child, start_thread's
   * caller). The stack is complete. */
  PROFKIT_UNWIND_END = 5,
  /* CFI the walker cannot follow (other expressions, unaligned offsets, RA not at CFA-8). */
  PROFKIT_UNWIND_UNSUPPORTED = 6,
};
#define PROFKIT_UNWIND_KIND_COUNT 7

/* One rule (map unwind_infos). Files share rules: a few hundred distinct ones per file, so every
 * table's rows name them by a 16-bit index into one array, filled as tables load and never
 * shrunk. */
struct profkit_unwind_info {
  __u8 kind; /* enum profkit_unwind_kind */
  /* The caller's RBP is saved at CFA + rbp_offset * 8; 0: RBP is unchanged by this frame. */
  __s8 rbp_offset;
  __u16 cfa_offset; /* in units of 8 bytes; PROFKIT_UNWIND_PLT: the RIP&15 threshold */
};
#define PROFKIT_UNWIND_MAX_INFOS 65536

/* A table is cut into pages of 4 KiB of file addresses. Each page's rows start at its first byte
 * (userspace repeats the rule in force there), so the row covering an address is found by a
 * search among the rows of its page alone: at most 13 steps. */
#define PROFKIT_UNWIND_PAGE_SHIFT 12
#define PROFKIT_UNWIND_PAGE_SIZE (1u << PROFKIT_UNWIND_PAGE_SHIFT)

/* One page (map unwind_pages): its rows are [first_row, first_row + row_count) of unwind_rows,
 * sorted by pc_low, the first at pc_low 0. */
struct profkit_unwind_page {
  __u32 first_row;
  __u32 row_count;
};

/* One row: from page address pc_low on, rule `info` of unwind_infos. */
struct profkit_unwind_row {
  __u16 pc_low;
  __u16 info;
};

/* The element of map unwind_rows: row i is rows[i & 1] of element i >> 1. A BPF array rounds
 * every element up to 8 bytes, so one row per element would take 8. Userspace places every table
 * at an even row. */
struct profkit_unwind_row_pair {
  struct profkit_unwind_row rows[2];
};

/* One executable mapping of a process whose file has an unwind table. File address = address -
 * bias; its page (file address >> PROFKIT_UNWIND_PAGE_SHIFT) minus page_base indexes the file's
 * pages [first_page, first_page + page_count) of unwind_pages; past them, no CFI. */
struct profkit_unwind_mapping {
  __u64 start;
  __u64 end;
  __u64 bias;
  __u32 first_page;
  __u32 page_count;
  __u32 page_base;
  __u32 reserved;
};

/* Mappings kept per process (map unwind_processes, key = tgid); a power of two (the walker masks
 * its index). Mappings past it fall back to frame pointers. */
#define PROFKIT_UNWIND_MAX_MAPPINGS 128

struct profkit_unwind_process {
  __u32 count; /* mappings used, sorted by start, not overlapping */
  __u32 reserved;
  struct profkit_unwind_mapping mappings[PROFKIT_UNWIND_MAX_MAPPINGS];
};

/* Indices of the per-CPU counters array the BPF programs increment and userspace sums. */
enum profkit_counter {
  /* bpf_ringbuf_output/reserve failed (ring buffer full): the record is lost. */
  PROFKIT_COUNTER_RINGBUF_DROPS = 0,
  /* bpf_get_stack() returned an error (kernel or user stack). */
  PROFKIT_COUNTER_STACK_ERRORS = 1,
  /* Samples of registered CPython processes, and how many of them walked no Python frame. */
  PROFKIT_COUNTER_PYTHON_SAMPLES = 2,
  PROFKIT_COUNTER_PYTHON_WALK_FAILURES = 3,
  /* Samples whose user stack the native unwinder walked, how many of them ended without reaching
   * the stack's end (unreadable memory, unsupported CFI, the depth limit), and the frames it
   * stepped over by frame pointer (mappings without a table). */
  PROFKIT_COUNTER_UNWIND_SAMPLES = 4,
  PROFKIT_COUNTER_UNWIND_TRUNCATED = 5,
  PROFKIT_COUNTER_UNWIND_FP_FRAMES = 6,
  /* Nanoseconds spent in those walks (bpf_ktime_get_ns around each): their cost per sample. */
  PROFKIT_COUNTER_UNWIND_NS = 7,
  /* Off-CPU profiling (bpf/off_cpu.bpf.h): switches away from a thread that passed the filters
   * (not idle, not a kernel thread unless asked, not the agent), of those the 1 in N sampled
   * (timed; their stacks are walked unless the thread's last timed wait was short), walked
   * switches whose thread came back sooner than the minimum duration (their stacks are dropped
   * by userspace), and sampled switches lost (the ring buffer full, or no memory for the
   * thread's task storage). */
  PROFKIT_COUNTER_OFF_CPU_SWITCHES = 8,
  PROFKIT_COUNTER_OFF_CPU_SAMPLED = 9,
  PROFKIT_COUNTER_OFF_CPU_SHORT = 10,
  PROFKIT_COUNTER_OFF_CPU_DROPPED = 11,
  PROFKIT_COUNTER_COUNT = 12,
};

#if defined(__cplusplus)
static_assert(sizeof(struct profkit_sample_header) == 120, "sample header layout changed");
static_assert(sizeof(struct profkit_off_cpu_end) == 32, "off-CPU end layout changed");
static_assert(sizeof(struct profkit_python_frame) == 16, "python frame layout changed");
static_assert(sizeof(struct profkit_python_process) == 72, "python process layout changed");
static_assert(sizeof(struct profkit_sample_header) % 8 == 0,
              "IPs after the header must be aligned");
static_assert(sizeof(struct profkit_process_event) == 28, "process event layout changed");
static_assert(sizeof(struct profkit_unwind_info) == 4, "unwind info layout changed");
static_assert(sizeof(struct profkit_unwind_page) == 8, "unwind page layout changed");
static_assert(sizeof(struct profkit_unwind_row) == 4, "unwind row layout changed");
static_assert(sizeof(struct profkit_unwind_row_pair) == 8, "a row pair fills one array element");
static_assert(PROFKIT_UNWIND_MAX_INFOS - 1 <= 0xffff, "a row's info index is 16 bits");
static_assert(PROFKIT_UNWIND_PAGE_SIZE - 1 <= 0xffff, "a row's pc_low is 16 bits");
static_assert(sizeof(struct profkit_unwind_mapping) == 40, "unwind mapping layout changed");
static_assert(sizeof(struct profkit_unwind_process) == 8 + 40 * PROFKIT_UNWIND_MAX_MAPPINGS,
              "unwind process layout changed");
#endif

#endif /* PROFKIT_BPF_ABI_H_ */
