// The native part of bench/workloads/python_native_depth.py: a shared library, built -O2
// -fomit-frame-pointer -fno-optimize-sibling-calls by bench/native_unwind.sh, whose
// native_recurse(DEPTH) calls itself until DEPTH frames of it are on the stack, then spins.
static volatile unsigned long sink;

__attribute__((noinline)) static void spin(void) {
  unsigned long x = sink;
  for (int i = 0; i < 100000; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  sink = x;
}

__attribute__((noinline)) int native_recurse(int depth) {
  if (depth <= 1) {
    spin();
    return 1;
  }
  return native_recurse(depth - 1) + 1;
}
