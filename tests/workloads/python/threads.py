"""Two busy threads, one of them in C code that released the GIL, for the Python integration tests.

    python threads.py SECONDS

The main thread spins in pure Python in spin_main (<module> -> main -> spin_main). A worker thread,
named "zlib-worker" at the OS level (prctl PR_SET_NAME, so it shows as thread_name), calls
zlib.compress on a large buffer in a loop from compress_loop; zlib.compress releases the GIL while
deflate runs, so nearly all of the worker's CPU time is spent in libz with no GIL, and with only
its gilstate thread state pointing at compress_loop's frame.
Compatible with Python 3.6+. Prints "cpu_seconds=<process CPU time, both threads>" at exit.
"""
import ctypes
import random
import sys
import threading
import time
import zlib

WORKER_NAME = b"zlib-worker"
PR_SET_NAME = 15
# Text-like data that deflate must search for matches in: about 100 ms per compress call at the
# default level on the reference VM, so the worker holds the GIL well under 1% of its time.
CORPUS_WORDS = 100000


def name_this_thread(name):
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def make_corpus():
    rng = random.Random(1)
    vocabulary = ["w%d" % rng.randrange(100000) for _ in range(2000)]
    return " ".join(rng.choice(vocabulary) for _ in range(CORPUS_WORDS)).encode()


def compress_loop(data, stop):
    total = 0
    while not stop.is_set():
        total += len(zlib.compress(data))  # COMPRESS
    return total


def worker(data, stop):
    name_this_thread(WORKER_NAME)
    compress_loop(data, stop)


def spin_main(seconds):
    x = 1
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        i = 0
        while i < 20000: x = (x * 1103515245 + 12345) % 2147483648; i += 1  # HOT_MAIN
    return x


def main():
    seconds = float(sys.argv[1])
    data = make_corpus()
    stop = threading.Event()
    thread = threading.Thread(target=worker, args=(data, stop))
    thread.start()
    spin_main(seconds)
    stop.set()
    thread.join()
    print("cpu_seconds=%.6f" % time.process_time(), flush=True)


main()
