/* The CPython frame walker, called by the sampler for processes userspace registered in
 * python_processes. It finds the sampled thread's gilstate PyThreadState, which stays set while the
 * thread has released the GIL (unlike _Py_tss_tstate or tstate_current): through the gilstate TSS
 * slot in glibc's struct pthread (3.8–3.14) or the thread-local _Py_tss_gilstate (3.15+, static TLS
 * or the TLS vector; docs/cpython-314-315.md). Per frame it emits the code object address, the
 * instruction index and a checksum. Strings and line numbers are userspace's job. Included by
 * profiler.bpf.c only; it needs that file's scratch type. */
#ifndef PROFKIT_PYTHON_WALKER_BPF_H_
#define PROFKIT_PYTHON_WALKER_BPF_H_

#include "profkit/bpf_abi.h"
#include "user_window.bpf.h"

/* 3.12+ `owner` values from this one up mark frames that are no Python function: the shim the
 * interpreter pushes when C code calls into it (CSTACK 3 in 3.12/3.13; INTERPRETER 3 in 3.14+) and
 * 3.14's CSTACK 4. */
#define PROFKIT_FRAME_OWNER_FIRST_SHIM 3
/* glibc x86-64: tcbhead_t.dtv at fs_base + 8; dtv_t entries are 16 bytes {void *val; bool
 * is_static}; an entry not allocated yet holds TLS_DTV_UNALLOCATED (-1). */
#define PROFKIT_TCB_DTV_OFFSET 8
#define PROFKIT_DTV_ENTRY_BYTES 16
#define PROFKIT_DTV_UNALLOCATED ((__u64)-1)
/* TLS module ids are small consecutive numbers (one per loaded object with TLS); larger is garbage
 * or an unrelocated GOT entry. */
#define PROFKIT_TLS_MAX_MODULE 65536
/* glibc serves thread-specific keys below 1024 (PTHREAD_KEYS_MAX). */
#define PROFKIT_PTHREAD_KEYS_MAX 1024
#define PROFKIT_PTHREAD_KEY_2NDLEVEL_SIZE 32
/* Struct copies live in buffers larger than the largest offset mask + field, so a masked offset is
 * always inside the buffer for the verifier; userspace guarantees offsets lie inside the bytes
 * actually read. */
#define PROFKIT_PY_OFFSET_MASK 127
#define PROFKIT_PY_BUFFER_BYTES 144
/* Frames visited per sample: emitted frames plus the 3.12+ shim frames, which are skipped. */
#define PROFKIT_PYTHON_MAX_VISITS (2 * PROFKIT_MAX_PYTHON_FRAMES)

struct python_walk_buffers {
  __u8 frame[PROFKIT_PY_BUFFER_BYTES];
  __u8 code[PROFKIT_PY_BUFFER_BYTES];
};

struct python_walk {
  const struct profkit_python_process *process;
  struct python_walk_buffers *buffers;
  /* 3.11+ frames are read through this window: they lie one after the other in the thread's
   * data-stack chunks, each caller below its callee, so one block holds several. */
  struct user_window frames;
  /* Where the frames go: the sample body, from frames_offset on. */
  __u8 *body;
  __u32 frames_offset;
  __u32 count;
  __u64 frame;
  /* 3.15+: the sentinel frame the chain ends at (not a function); 0 when unknown. */
  __u64 base_frame;
  /* The previous frame's code object and checksum: recursion repeats them, and skipping the read
   * of an unchanged code object halves the cost of such frames. */
  __u64 last_code;
  __u16 last_checksum;
  __u16 status;
  bool truncated;
};

static __always_inline __u64 py_u64(const __u8 *buffer, __u16 offset) {
  return *(const __u64 *)(buffer + (offset & PROFKIT_PY_OFFSET_MASK));
}

static __always_inline __u32 py_u32(const __u8 *buffer, __u16 offset) {
  return *(const __u32 *)(buffer + (offset & PROFKIT_PY_OFFSET_MASK));
}

static __always_inline __u8 py_u8(const __u8 *buffer, __u16 offset) {
  return buffer[offset & PROFKIT_PY_OFFSET_MASK];
}

static __always_inline struct profkit_python_frame *py_frame_slot(struct python_walk *w,
                                                                  __u32 index) {
  if (index >= PROFKIT_MAX_PYTHON_FRAMES) return NULL;
  __u64 byte = (__u64)w->frames_offset + (__u64)(index & (PROFKIT_MAX_PYTHON_FRAMES - 1)) *
                                             sizeof(struct profkit_python_frame);
  /* The compiler would otherwise fold this check into the caller's bounds and the verifier, which
   * tracks the register actually used, would see an unbounded offset. */
  barrier_var(byte);
  if (byte >
      PROFKIT_IPS_BYTES + PROFKIT_PYTHON_FRAMES_BYTES - sizeof(struct profkit_python_frame)) {
    return NULL;
  }
  return (struct profkit_python_frame *)(w->body + byte);
}

/* Marks the last emitted frame as the outermost of its eval-loop invocation. */
static __always_inline void py_mark_entry(struct python_walk *w) {
  if (w->count == 0) return;
  struct profkit_python_frame *last = py_frame_slot(w, w->count - 1);
  if (last) last->flags |= PROFKIT_PYTHON_FRAME_ENTRY;
}

static long py_walk_step(__u32 index, void *context) {
  struct python_walk *w = context;
  const struct profkit_python_process *p = w->process;
  struct python_walk_buffers *b = w->buffers;
  if (w->frame == 0 || w->frame == w->base_frame) return 1;
  if (w->count >= PROFKIT_MAX_PYTHON_FRAMES) {
    w->truncated = true;
    return 1;
  }
  __u32 frame_bytes = p->frame_read_bytes;
  if (frame_bytes > PROFKIT_PYTHON_FRAME_READ_BYTES) frame_bytes = PROFKIT_PYTHON_FRAME_READ_BYTES;
  /* 3.8-3.10 frame objects are scattered on the heap: a block would hold one of them. */
  const __u8 *frame = p->layout == PROFKIT_PYTHON_LAYOUT_FRAME_OBJECT
                          ? NULL
                          : user_window_at(&w->frames, w->frame, frame_bytes);
  if (!frame) {
    if (bpf_probe_read_user(b->frame, frame_bytes, (const void *)w->frame) != 0) {
      w->status = PROFKIT_PYTHON_READ_ERROR;
      return 1;
    }
    frame = b->frame;
  }
  __u64 code = py_u64(frame, p->frame_code) & ~(__u64)p->frame_code_tag_bits;
  __u64 previous = py_u64(frame, p->frame_previous);
  w->frame = previous;

  __s32 instruction;
  __u16 flags = 0;
  if (p->layout == PROFKIT_PYTHON_LAYOUT_FRAME_OBJECT) {
    instruction = (__s32)py_u32(frame, p->frame_instruction);
    /* Each Python call of 3.8–3.10 runs in its own _PyEval_EvalFrameDefault. */
    flags = PROFKIT_PYTHON_FRAME_ENTRY;
  } else {
    bool shim = (p->frame_owner != PROFKIT_PYTHON_NO_OFFSET &&
                 py_u8(frame, p->frame_owner) >= PROFKIT_FRAME_OWNER_FIRST_SHIM) ||
                (p->none_address != 0 && code == p->none_address);
    if (shim) {
      py_mark_entry(w);
      return 0;
    }
    __u64 instruction_pointer = py_u64(frame, p->frame_instruction);
    instruction = (__s32)((__s64)(instruction_pointer - (code + p->code_adaptive)) >> 1);
    if (p->frame_is_entry != PROFKIT_PYTHON_NO_OFFSET && py_u8(frame, p->frame_is_entry)) {
      flags = PROFKIT_PYTHON_FRAME_ENTRY;
    }
  }
  if (code == 0) {
    w->status = PROFKIT_PYTHON_READ_ERROR;
    return 1;
  }
  if (code != w->last_code) {
    if (bpf_probe_read_user(b->code, PROFKIT_PYTHON_CODE_READ_BYTES, (const void *)code) != 0) {
      w->status = PROFKIT_PYTHON_READ_ERROR;
      return 1;
    }
    w->last_code = code;
    w->last_checksum = profkit_python_code_checksum(
        py_u32(b->code, p->code_argcount), py_u32(b->code, p->code_kwonlyargcount),
        py_u32(b->code, p->code_flags), py_u32(b->code, p->code_firstlineno));
  }
  struct profkit_python_frame *out = py_frame_slot(w, w->count);
  if (!out) return 1;
  out->code_object = code;
  out->instruction = instruction;
  out->checksum = w->last_checksum;
  out->flags = flags;
  w->count++;
  return 0;
}

/* This thread's gilstate PyThreadState* from the glibc TSS slot of key Py_tss_t at tss_address;
 * 0 with w->status saying why not. */
static __always_inline __u64 py_thread_state_from_tss(struct python_walk *w, __u64 fs_base) {
  const struct profkit_python_process *p = w->process;
  struct {
    __s32 is_initialized;
    __s32 key;
  } tss;
  if (bpf_probe_read_user(&tss, sizeof(tss), (const void *)p->tss_address) != 0 ||
      !tss.is_initialized || tss.key < 0 || tss.key >= PROFKIT_PTHREAD_KEYS_MAX) {
    w->status = PROFKIT_PYTHON_NO_KEY;
    return 0;
  }
  __u32 key = (__u32)tss.key;
  __u64 slot;
  if (key < PROFKIT_PTHREAD_KEY_2NDLEVEL_SIZE) {
    slot = fs_base + p->tsd_first_block + (__u64)key * 16;
  } else {
    __u64 block = 0;
    __u64 block_pointer = fs_base + p->tsd_second_level +
                          (__u64)(key / PROFKIT_PTHREAD_KEY_2NDLEVEL_SIZE) * sizeof(__u64);
    if (bpf_probe_read_user(&block, sizeof(block), (const void *)block_pointer) != 0 || !block) {
      w->status = PROFKIT_PYTHON_NO_THREAD_STATE;
      return 0;
    }
    slot = block + (__u64)(key % PROFKIT_PTHREAD_KEY_2NDLEVEL_SIZE) * 16;
  }
  /* struct pthread_key_data {uintptr_t seq; void *data;}: the thread state is `data`. */
  return slot + 8;
}

/* Address of _Py_tss_gilstate in libpython.so's TLS block of this thread, through the GOT's
 * tls_index and the thread's TLS vector; 0 with w->status saying why not. */
static __always_inline __u64 py_thread_state_from_dtv(struct python_walk *w, __u64 fs_base) {
  const struct profkit_python_process *p = w->process;
  struct {
    __u64 module;
    __u64 offset;
  } tls_index;
  __u64 dtv = 0;
  __u64 block = 0;
  if (bpf_probe_read_user(&tls_index, sizeof(tls_index), (const void *)p->tls_index_address) != 0 ||
      tls_index.module == 0 || tls_index.module >= PROFKIT_TLS_MAX_MODULE) {
    w->status = PROFKIT_PYTHON_NO_KEY;
    return 0;
  }
  if (bpf_probe_read_user(&dtv, sizeof(dtv), (const void *)(fs_base + PROFKIT_TCB_DTV_OFFSET)) !=
          0 ||
      !dtv ||
      bpf_probe_read_user(&block, sizeof(block),
                          (const void *)(dtv + tls_index.module * PROFKIT_DTV_ENTRY_BYTES)) != 0) {
    w->status = PROFKIT_PYTHON_READ_ERROR;
    return 0;
  }
  if (!block || block == PROFKIT_DTV_UNALLOCATED) {
    w->status = PROFKIT_PYTHON_NO_KEY;
    return 0;
  }
  return block + tls_index.offset + (__u64)p->tls_offset;
}

/* The innermost frame of this thread's Python stack, or 0 with w->status saying why not. */
static __always_inline __u64 py_innermost_frame(struct python_walk *w) {
  const struct profkit_python_process *p = w->process;
  struct task_struct *task = bpf_get_current_task_btf();
  __u64 fs_base = task->thread.fsbase;
  /* Where this thread's PyThreadState* is stored. */
  __u64 slot;
  if (p->thread_state_source == PROFKIT_PYTHON_TSTATE_STATIC_TLS) {
    slot = fs_base + (__u64)p->tls_offset;
  } else if (p->thread_state_source == PROFKIT_PYTHON_TSTATE_DYNAMIC_TLS) {
    slot = py_thread_state_from_dtv(w, fs_base);
  } else {
    slot = py_thread_state_from_tss(w, fs_base);
  }
  if (!slot) return 0;
  __u64 thread_state = 0;
  if (bpf_probe_read_user(&thread_state, sizeof(thread_state), (const void *)slot) != 0) {
    w->status = PROFKIT_PYTHON_READ_ERROR;
    return 0;
  }
  if (!thread_state) {
    w->status = PROFKIT_PYTHON_NO_THREAD_STATE;
    return 0;
  }
  __u64 frame = 0;
  if (bpf_probe_read_user(&frame, sizeof(frame), (const void *)(thread_state + p->thread_frame)) !=
      0) {
    w->status = PROFKIT_PYTHON_READ_ERROR;
    return 0;
  }
  if (p->thread_base_frame != PROFKIT_PYTHON_NO_OFFSET &&
      bpf_probe_read_user(&w->base_frame, sizeof(w->base_frame),
                          (const void *)(thread_state + p->thread_base_frame)) != 0) {
    w->status = PROFKIT_PYTHON_READ_ERROR;
    return 0;
  }
  if (frame && p->cframe_current_frame != PROFKIT_PYTHON_NO_OFFSET) {
    __u64 cframe = frame;
    frame = 0;
    if (bpf_probe_read_user(&frame, sizeof(frame),
                            (const void *)(cframe + p->cframe_current_frame)) != 0) {
      w->status = PROFKIT_PYTHON_READ_ERROR;
      return 0;
    }
  }
  return frame;
}

/* Walks the current thread's Python stack into body[frames_offset...]. Returns the number of
 * frames written; sets *status and *truncated. */
static __always_inline __u32 py_walk_stack(const struct profkit_python_process *process,
                                           struct python_walk_buffers *buffers,
                                           struct user_window_buffer *window, __u8 *body,
                                           __u32 frames_offset, __u16 *status, bool *truncated) {
  struct python_walk w = {
      .process = process,
      .buffers = buffers,
      .frames = user_window_empty(window),
      .body = body,
      .frames_offset = frames_offset,
      .status = PROFKIT_PYTHON_OK,
  };
  w.frame = py_innermost_frame(&w);
  if (w.frame) {
    bpf_loop(PROFKIT_PYTHON_MAX_VISITS, py_walk_step, &w, 0);
    /* Frames left after the last visit: the stack is deeper than the walker goes. */
    if (w.frame && w.frame != w.base_frame && w.status == PROFKIT_PYTHON_OK) w.truncated = true;
  }
  *status = w.status;
  *truncated = w.truncated;
  return w.count;
}

#endif /* PROFKIT_PYTHON_WALKER_BPF_H_ */
