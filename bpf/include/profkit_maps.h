/* Maps shared by every BPF source of the profkit object. Each source includes this header and the
 * sources are linked into one object (bpftool gen object), so the definitions are __weak: the
 * libbpf linker merges identical weak definitions into a single map instead of rejecting them as
 * duplicates. */
#ifndef PROFKIT_BPF_MAPS_H_
#define PROFKIT_BPF_MAPS_H_

#include "profkit/bpf_abi.h"

/* Samples and process events, in the layouts of profkit/bpf_abi.h. max_entries is the size in
 * bytes; userspace sets it before load (SamplerOptions::ring_buffer_bytes), this is a placeholder
 * the kernel accepts (a power of two multiple of the page size). */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps") __weak;

/* enum profkit_counter, one slot per CPU so increments need no atomics. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PROFKIT_COUNTER_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps") __weak;

/* CPython processes the sampler walks (profkit_python_process per tgid), written by userspace.
 * An exec removes its entry at once: the layout described the old image. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct profkit_python_process);
} python_processes SEC(".maps") __weak;

/* Programs that just exec'd: their first samples wake the reader at once, because userspace can
 * only find an interpreter (and register it above) once the dynamic loader has mapped it, which a
 * sample's unknown address reveals; a short-lived Python program loses its Python frames until
 * then. Value: samples left to wake for. LRU: entries of programs that never ran vanish. */
#define PROFKIT_NEW_PROGRAM_WAKEUPS 3
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u32);
} new_programs SEC(".maps") __weak;

/* Waking the reader for every record costs a context switch per sample per CPU (12,700/s on a
 * 128-CPU host at 99 Hz). Instead the reader polls with a timeout and drains whatever is there,
 * and is woken early only once this many bytes wait, leaving the rest of the buffer as headroom
 * for its scheduling delay. Set by userspace before load (a quarter of the ring buffer). */
const volatile __u64 wakeup_bytes __weak = 1 << 18;

static __always_inline __u64 profkit_wakeup_flags(void) {
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
                                                                       : BPF_RB_NO_WAKEUP;
}

static __always_inline void profkit_count_add(__u32 counter, __u64 amount) {
  __u64 *value = bpf_map_lookup_elem(&counters, &counter);
  if (value) *value += amount;
}

static __always_inline void profkit_count(__u32 counter) { profkit_count_add(counter, 1); }

#endif /* PROFKIT_BPF_MAPS_H_ */
