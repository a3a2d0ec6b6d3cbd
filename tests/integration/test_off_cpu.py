"""Off-CPU and wall-clock profiles end to end under BPF (root): `profkit record --off-cpu` on C and
Python workloads (a sleep, a lock, a pipe read; for Python also a socket recv) whose threads measure their own CPU time, wall time and time in one blocking call
(tests/workloads/off_cpu.c, tests/workloads/python/off_cpu.py). Per thread, the off-CPU time of
the stacks in that call must match what the thread measured, and CPU + off-CPU its wall time.
"""
import json
import shutil
import subprocess

import pytest

from conftest import REPO, TEST_RATE, located_frames, require

TOLERANCE = 0.10  # ±10% of the truth
SAMPLE_TYPES = [("samples", "count"), ("cpu", "nanoseconds"), ("off-cpu", "nanoseconds"),
                ("off-cpu-events", "count"), ("wall", "nanoseconds")]
SAMPLES, CPU, OFF_CPU, OFF_CPU_EVENTS, WALL = range(5)
# The blocking call of each thread: the innermost Python frame's function and source line text,
# and the kernel function its wait passes through.
PYTHON_WAITS = {
    "sleeper": ("sleeper", "time.sleep(SLEEP_S)", ("do_nanosleep", "hrtimer_nanosleep")),
    "locker": ("locker", "lock.acquire()", ("futex_wait", "__futex_wait", "futex_wait_queue")),
    "reader": ("reader", "os.read(read_fd, 1)", ("pipe_read", "anon_pipe_read")),
    "receiver": ("receiver", "receive_socket.recv(1)", ("unix_stream_recvmsg", "unix_stream_read_generic")),
}
# The C workload's thread → the function its wait is in.
C_WAITS = {"sleeper": "wait_sleeping", "locker": "wait_for_lock", "reader": "wait_for_pipe"}


def record_off_cpu(profkit_bin, out, command, names, *extra):
    # Every wait, however short: the thread's wall time is the truth, and a loaded machine preempts
    # the CPU-bound thread in many waits shorter than the default 1 ms minimum.
    result = subprocess.run([profkit_bin, "record", "--off-cpu", "--off-cpu-min-ms", "0", "--rate",
                             str(TEST_RATE), "--output", str(out), *map(str, extra), "--",
                             *map(str, command)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    threads = {}
    for line in result.stdout.splitlines():
        record = json.loads(line)
        threads[record["name"]] = record
    assert set(threads) == set(names), result.stdout
    return threads


def thread_samples(profile, tid):
    return [s for s in profile.message.sample if profile.labels(s)["tid"] == tid]


def within(value, truth, what):
    assert abs(value - truth) <= TOLERANCE * truth, f"{what}: {value:.3f} s, truth {truth:.3f} s"


def assert_wall_matches(profile, threads):
    for name, truth in threads.items():
        samples = thread_samples(profile, truth["tid"])
        cpu = sum(s.value[CPU] for s in samples) / 1e9
        off = sum(s.value[OFF_CPU] for s in samples) / 1e9
        wall = sum(s.value[WALL] for s in samples) / 1e9
        assert abs(wall - (cpu + off)) < 1e-6, f"{name}: wall is not cpu + off-cpu"
        within(wall, truth["wall_s"], f"{name} cpu + off-cpu")


@pytest.fixture(scope="module")
def off_cpu_c(workdir):
    cc = shutil.which("cc") or shutil.which("gcc")
    require(cc is not None, "needs a C compiler")
    out = workdir / "off_cpu"
    subprocess.run([cc, "-O1", "-g", "-pthread", "-fno-omit-frame-pointer", "-o", out,
                    REPO / "tests/workloads/off_cpu.c"], check=True)
    return out


def test_off_cpu_c_threads(profkit_bin, root, off_cpu_c, tmp_path, read_pprof):
    """Each C thread's wait is attributed to the function it waits in, for the time it measured."""
    out = tmp_path / "c.pprof"
    # With --dump-records too: the capture keeps the off-CPU records and their ends.
    dump = tmp_path / "c.pkrf"
    threads = record_off_cpu(profkit_bin, out, [off_cpu_c], C_WAITS, "--dump-records", dump)
    assert dump.stat().st_size > 0
    profile = read_pprof(out.read_bytes())
    assert profile.sample_types() == SAMPLE_TYPES
    for name, function in C_WAITS.items():
        truth = threads[name]
        waiting = [s for s in thread_samples(profile, truth["tid"]) if function in profile.frames(s)]
        # The thread's other off-CPU stacks, to tell a wait attributed elsewhere from one lost.
        elsewhere = [(";".join(reversed(profile.frames(s))), s.value[OFF_CPU] / 1e9)
                     for s in thread_samples(profile, truth["tid"])
                     if s.value[OFF_CPU] and function not in profile.frames(s)]
        within(sum(s.value[OFF_CPU] for s in waiting) / 1e9, truth["blocked_s"],
               f"{name} off-CPU in {function} (elsewhere: {elsewhere})")
    assert_wall_matches(profile, threads)


def test_off_cpu_python_threads(profkit_bin, root, tmp_path, read_pprof):
    """Each Python thread's wait shows its blocking call as the innermost Python frame, above the
    kernel's wait path, for the time the thread measured; CPU + off-CPU is its wall time."""
    python = shutil.which("python3")
    require(python is not None, "needs python3")
    workload = REPO / "tests/workloads/python/off_cpu.py"
    source = workload.read_text().splitlines()
    out = tmp_path / "python.pprof"
    threads = record_off_cpu(profkit_bin, out, [python, workload], PYTHON_WAITS)
    profile = read_pprof(out.read_bytes())
    assert profile.sample_types() == SAMPLE_TYPES
    for name, (function, call, kernel_waits) in PYTHON_WAITS.items():
        truth = threads[name]
        in_call = 0
        for sample in thread_samples(profile, truth["tid"]):
            if not sample.value[OFF_CPU]:
                continue
            frames = located_frames(profile, sample)
            python_frames = [f for f in frames if f.interpreted and f.filename.endswith(".py")]
            leaf = python_frames[0] if python_frames else None
            if leaf is None or leaf.name != function or call not in source[leaf.line - 1]:
                continue
            in_call += sample.value[OFF_CPU]
            kernel = [f.name for f in frames if f.mapping_file == "[kernel.kallsyms]"]
            assert "__schedule" in kernel, kernel
        within(in_call / 1e9, truth["blocked_s"], f"{name} off-CPU in {call}")
    # The kernel path of each wait, on the stack of the thread that waited.
    for name, (_, _, kernel_waits) in PYTHON_WAITS.items():
        kernel = {f for s in thread_samples(profile, threads[name]["tid"]) if s.value[OFF_CPU]
                  for f in profile.frames(s)}
        assert kernel & set(kernel_waits), f"{name}: none of {kernel_waits} in {sorted(kernel)}"
    assert_wall_matches(profile, threads)
