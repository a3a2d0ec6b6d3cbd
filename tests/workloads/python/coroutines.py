"""CPU work shared between asyncio coroutines, for the Python integration tests.

    python coroutines.py SECONDS

Two coroutines run on one event loop and do CPU work in chunks, yielding with
`await asyncio.sleep(0)` between chunks: crunch_large does 2 units of work per chunk and
crunch_small 1 unit, so they take about 2/3 and 1/3 of the CPU time. The work runs in the
coroutines' own frames (no helper call), so the coroutine is the innermost Python frame.
Compatible with Python 3.7+ (asyncio.run). Prints "cpu_seconds=<process CPU time>" at exit.
"""
import asyncio
import sys
import time

# Loop iterations per work unit: about 5 ms of CPU time on the reference VM, so the event loop's
# own work between chunks stays well under 1% of the samples.
UNIT = 12000


async def crunch_large(end):
    x = 1
    while time.process_time() < end:
        i, n = 0, 2 * UNIT
        while i < n: x = (x * 1103515245 + 12345) % 2147483648; i += 1  # HOT_LARGE
        await asyncio.sleep(0)
    return x


async def crunch_small(end):
    x = 1
    while time.process_time() < end:
        i, n = 0, UNIT
        while i < n: x = (x * 1103515245 + 12345) % 2147483648; i += 1  # HOT_SMALL
        await asyncio.sleep(0)
    return x


async def run(seconds):
    end = time.process_time() + seconds
    await asyncio.gather(crunch_large(end), crunch_small(end))


def main():
    asyncio.run(run(float(sys.argv[1])))
    print("cpu_seconds=%.6f" % time.process_time(), flush=True)


main()
