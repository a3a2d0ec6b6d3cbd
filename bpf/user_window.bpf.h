/* A window of the sampled task's memory: one aligned block copied by one bpf_probe_read_user,
 * from which the walkers take the words they need while their reads stay in it. A walk reads
 * many small values close together (return addresses and saved RBPs up the native stack, CPython
 * 3.11+ frames up the thread's data stack), and every bpf_probe_read_user is a chain of kernel
 * calls, which the return-thunk mitigations make dear; copying a block costs little more than
 * one such read. The block is aligned to its size, a divisor of the page size, so it lies in the
 * page of the address asked for: it can be read whenever that address can. Included by
 * profiler.bpf.c only. */
#ifndef PROFKIT_USER_WINDOW_BPF_H_
#define PROFKIT_USER_WINDOW_BPF_H_

#define PROFKIT_USER_WINDOW_BYTES 1024
/* Readers may look this far past a window offset (CPython's masked field offsets, python_walker.
 * bpf.h: PROFKIT_PY_BUFFER_BYTES), so the buffer is that much longer than the window and any
 * offset below the window size keeps such reads inside it for the verifier. */
#define PROFKIT_USER_WINDOW_SLACK 144

struct user_window_buffer {
  __u8 bytes[PROFKIT_USER_WINDOW_BYTES + PROFKIT_USER_WINDOW_SLACK];
};

/* Blocks start at multiples of their size: an odd start is no block. */
#define PROFKIT_USER_WINDOW_EMPTY 1

struct user_window {
  struct user_window_buffer *buffer;
  __u64 start; /* the address bytes[0] holds, or PROFKIT_USER_WINDOW_EMPTY */
};

static __always_inline struct user_window user_window_empty(struct user_window_buffer *buffer) {
  struct user_window window = {.buffer = buffer, .start = PROFKIT_USER_WINDOW_EMPTY};
  return window;
}

/* Where [address, address + size) is in the window, loading the block around `address` first if
 * the window holds another; NULL when the range crosses the block's end or the block cannot be
 * read (the caller then reads the range by itself). size <= PROFKIT_USER_WINDOW_BYTES. */
static __always_inline const __u8 *user_window_at(struct user_window *window, __u64 address,
                                                  __u32 size) {
  struct user_window_buffer *buffer = window->buffer;
  if (!buffer) return NULL;
  __u64 start = address & ~(__u64)(PROFKIT_USER_WINDOW_BYTES - 1);
  __u64 offset = address - start;
  if (offset + size > PROFKIT_USER_WINDOW_BYTES) return NULL;
  if (start != window->start) {
    if (bpf_probe_read_user(buffer->bytes, PROFKIT_USER_WINDOW_BYTES, (const void *)start) != 0) {
      window->start = PROFKIT_USER_WINDOW_EMPTY;
      return NULL;
    }
    window->start = start;
  }
  return buffer->bytes + (offset & (PROFKIT_USER_WINDOW_BYTES - 1));
}

/* Reads the word at `address` through the window, or by itself when the window cannot hold it. */
static __always_inline bool user_window_read_u64(struct user_window *window, __u64 *value,
                                                 __u64 address) {
  const __u8 *at = user_window_at(window, address, sizeof(*value));
  if (at) {
    *value = *(const __u64 *)at;
    return true;
  }
  return bpf_probe_read_user(value, sizeof(*value), (const void *)address) == 0;
}

#endif /* PROFKIT_USER_WINDOW_BPF_H_ */
