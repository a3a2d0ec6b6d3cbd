"""A C extension calling back into Python, for the Python integration tests.

    python callback.py SECONDS

sort_rounds sorts a small C array again and again with libc's qsort, called through ctypes (the
_ctypes extension and libffi); qsort calls the Python function compare back for every comparison
through a ctypes callback, so the stack is <module> -> main -> sort_rounds -> [_ctypes, libffi,
qsort, libffi, _ctypes: C code] -> compare. compare spends nearly all of its time on the one line
marked "HOT_COMPARE", so nearly all samples are in compare, under C code, under Python code.
Compatible with Python 3.6+. Prints "cpu_seconds=<process CPU time>" at exit.
"""
import ctypes
import sys
import time

ELEMENTS = 64
# Loop iterations per comparison: the comparisons, not ctypes' conversions, take the CPU time.
SPIN = 300
COMPARE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))


def compare(a, b):
    x = 1
    i = 0
    while i < SPIN: x = (x * 1103515245 + 12345) % 2147483648; i += 1  # HOT_COMPARE
    return a[0] - b[0]


def sort_rounds(seconds):
    libc = ctypes.CDLL("libc.so.6")
    values = (ctypes.c_int * ELEMENTS)()
    callback = COMPARE(compare)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        values[:] = range(ELEMENTS, 0, -1)
        libc.qsort(values, ELEMENTS, ctypes.sizeof(ctypes.c_int), callback)  # QSORT
    assert list(values) == list(range(1, ELEMENTS + 1)), list(values)


def main():
    sort_rounds(float(sys.argv[1]))
    print("cpu_seconds=%.6f" % time.process_time(), flush=True)


main()
