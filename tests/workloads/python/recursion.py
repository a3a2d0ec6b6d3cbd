"""Deep Python stacks, for the Python integration tests and bench/python_overhead.sh.

    python recursion.py SECONDS DEPTH [DEPTH ...]

For each DEPTH in turn, descend recurses until exactly DEPTH descend frames are on the stack, then
spins in the leaf spin (<module> -> main -> descend (DEPTH times) -> spin) for SECONDS / number of
depths of CPU time (process time, so every depth gets the same share of the samples however busy
the machine is).
Compatible with Python 3.6+. Prints "cpu_seconds=<process CPU time>" at exit.
"""
import sys
import time

# Frames main() and <module> add under the recursion, plus CPython's own margin.
RECURSION_HEADROOM = 100


def spin(end):
    x = 1
    while time.process_time() < end:
        i = 0
        while i < 20000: x = (x * 1103515245 + 12345) % 2147483648; i += 1  # HOT_LEAF
    return x


def descend(levels, end):
    if levels > 1:
        return descend(levels - 1, end)  # RECURSE
    return spin(end)  # LEAF_CALL


def main():
    seconds = float(sys.argv[1])
    depths = [int(arg) for arg in sys.argv[2:]]
    if not depths or min(depths) < 1:
        sys.exit("usage: recursion.py SECONDS DEPTH [DEPTH ...]")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), max(depths) + RECURSION_HEADROOM))
    for depth in depths:
        descend(depth, time.process_time() + seconds / len(depths))
    print("cpu_seconds=%.6f" % time.process_time(), flush=True)


main()
