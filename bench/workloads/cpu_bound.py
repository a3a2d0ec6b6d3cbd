"""Fixed, deterministic, single-threaded pure-Python CPU work for bench/python_overhead.sh.

    python cpu_bound.py [work_units]

The Python counterpart of cpu_bound.c: it prints the same line (its elapsed time, excluding
interpreter start-up, and the time it waited for a CPU) so overhead.py's machinery can run it. The
work sits CALL_DEPTH Python frames below <module> and mixes integer arithmetic, calls, and list
and dict operations, the usual diet of the interpreter loop. Compatible with Python 3.6+.
"""
import sys
import time

# Calibrated to take about 5 s on the benchmark VM (Xeon, 2 vCPUs) with Debian's python3.11.
DEFAULT_WORK_UNITS = 650
# Upper bound on the command-line override, so a typo cannot run for hours.
MAX_WORK_UNITS = 100000
# Python frames between main and the hot loop, so a profiler really walks a stack on every sample.
CALL_DEPTH = 12
ITEMS_PER_UNIT = 20000


def run_delay_ns():
    """Time this thread spent runnable but waiting for a CPU, or -1 without schedstats."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def mix(seed):
    table = {}
    values = []
    x = seed
    for i in range(ITEMS_PER_UNIT):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        values.append(x >> 40)
        table[x & 1023] = i
    values.sort()
    return (sum(values[::97]) + len(table)) & 0xFFFFFFFF


def descend(depth, seed):
    if depth == 0:
        return mix(seed)
    # The addition after the call keeps every level on the stack.
    return descend(depth - 1, seed) + depth


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: cpu_bound.py [work_units]")
    units = DEFAULT_WORK_UNITS
    if len(sys.argv) == 2:
        try:
            units = int(sys.argv[1])
        except ValueError:
            units = 0
        if not 1 <= units <= MAX_WORK_UNITS:
            sys.exit("work_units must be an integer in [1, %d], got '%s'" % (MAX_WORK_UNITS, sys.argv[1]))
    delay_start = run_delay_ns()
    start = time.monotonic()
    acc = 0
    for unit in range(units):
        acc = (acc + descend(CALL_DEPTH, acc + unit)) & 0xFFFFFFFF
    elapsed = time.monotonic() - start
    delay_end = run_delay_ns()
    run_delay = -1.0 if delay_start < 0 or delay_end < 0 else (delay_end - delay_start) / 1e9
    # Printing the checksum keeps the work observable.
    print("elapsed_s=%.6f run_delay_s=%.6f units=%d checksum=%08x" % (elapsed, run_delay, units, acc))


main()
