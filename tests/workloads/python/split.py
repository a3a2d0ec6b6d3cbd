"""A CPU-bound Python workload with a known split of CPU time, for the Python integration tests.

    python split.py SECONDS

70% of the CPU time is spent in hot_a and 30% in Crunch.hot_b, reached as
<module> -> main -> run -> round_trip -> hot_a / Crunch.hot_b. Each hot function spends nearly all
of its time on the one line marked "HOT_A" / "HOT_B": the whole loop sits on that line, so every
instruction of the loop maps to it. hot_b is a method (its co_qualname differs from its co_name)
with a cell variable (3.11+ start it with a MAKE_CELL instruction that has no line number, the
entry that mis-numbers every later line in decoders that reset the line counter on it).
Compatible with Python 3.6+. Prints "cpu_seconds=<process CPU time>" at exit.
"""
import sys
import time

# Loop iterations per round: about 40 ms of CPU time on the reference VM, so the time check in
# run() costs nothing measurable and a run ends within a round of its deadline.
ITERATIONS_PER_ROUND = 100000


def hot_a(iterations):
    x = 1
    i = 0
    while i < iterations: x = (x * 1103515245 + 12345) % 2147483648; i += 1  # HOT_A
    return x


class Crunch:
    def hot_b(self, iterations):
        x = 1
        i = 0
        while i < iterations: x = (x * 1103515245 + 12345) % 2147483648; i += 1  # HOT_B
        scale = 3
        return (lambda value: value * scale)(x)


def round_trip(crunch):
    # Same loop body in both functions, so CPU time is proportional to the iteration count.
    hot_a(ITERATIONS_PER_ROUND * 7 // 10)
    crunch.hot_b(ITERATIONS_PER_ROUND * 3 // 10)


def run(seconds):
    crunch = Crunch()
    # CPU time, not wall time: on a busy host the workload still does `seconds` of work, so the
    # interpreter's start-up stays a small share of its samples.
    end = time.process_time() + seconds
    while time.process_time() < end:
        round_trip(crunch)


def main():
    run(float(sys.argv[1]))
    print("cpu_seconds=%.6f" % time.process_time(), flush=True)


main()
