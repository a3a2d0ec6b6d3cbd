"""Off-CPU workload with known truth: three threads that each wait in one known call, and measure
their own CPU time, wall time and time spent in that call. Prints one JSON line per thread:
{"name", "tid", "cpu_s", "wall_s", "blocked_s"}. Used by tests/integration/test_off_cpu.py.

- sleeper: 4 rounds of 100 ms of CPU then time.sleep(0.3)
- locker: Lock.acquire() of a lock the main thread holds for 1 s
- reader: 20 blocking os.read() of a pipe a writer thread feeds every 50 ms
- receiver: 20 blocking socket.recv() of a socket pair the same writer feeds
"""
import json
import os
import socket
import threading
import time

ROUNDS = 4
BURN_S = 0.1
SLEEP_S = 0.3
LOCK_HELD_S = 1.0
READS = 20
FEED_INTERVAL_S = 0.05

results = []
results_lock = threading.Lock()


def burn(seconds):
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass


def measured(name, body):
    """Runs body() on this thread, which returns the seconds spent in its blocking call."""
    def run():
        wall_start, cpu_start = time.monotonic(), time.thread_time()
        blocked = body()
        record = {"name": name, "tid": threading.get_native_id(),
                  "cpu_s": time.thread_time() - cpu_start, "wall_s": time.monotonic() - wall_start,
                  "blocked_s": blocked}
        with results_lock:
            results.append(record)
    return threading.Thread(target=run, name=name)


def sleeper():
    blocked = 0.0
    for _ in range(ROUNDS):
        burn(BURN_S)
        t = time.monotonic()
        time.sleep(SLEEP_S)  # the sleeper's blocking call
        blocked += time.monotonic() - t
    return blocked


lock = threading.Lock()
lock_taken = threading.Event()


def locker():
    lock_taken.wait()
    t = time.monotonic()
    lock.acquire()  # the locker's blocking call
    blocked = time.monotonic() - t
    lock.release()
    return blocked


read_fd, write_fd = os.pipe()


def reader():
    blocked = 0.0
    for _ in range(READS):
        t = time.monotonic()
        os.read(read_fd, 1)  # the reader's blocking call
        blocked += time.monotonic() - t
    return blocked


receive_socket, send_socket = socket.socketpair()


def receiver():
    blocked = 0.0
    for _ in range(READS):
        t = time.monotonic()
        receive_socket.recv(1)  # the receiver's blocking call
        blocked += time.monotonic() - t
    return blocked


def feed():
    for _ in range(READS):
        time.sleep(FEED_INTERVAL_S)
        os.write(write_fd, b"x")
        send_socket.send(b"x")


def main():
    # The profiler registers a new interpreter and loads its unwind tables after its first stacks;
    # the measured waits start after that.
    time.sleep(0.3)
    threads = [measured("sleeper", sleeper), measured("locker", locker),
               measured("reader", reader), measured("receiver", receiver),
               threading.Thread(target=feed, name="feeder")]
    lock.acquire()
    for thread in threads:
        thread.start()
    lock_taken.set()
    time.sleep(LOCK_HELD_S)
    lock.release()
    for thread in threads:
        thread.join()
    for record in results:
        print(json.dumps(record), flush=True)


main()
