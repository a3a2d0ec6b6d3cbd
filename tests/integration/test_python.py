"""Python stacks end to end under BPF (root): `profkit record` and `profkit run` on CPython.

Every test runs for Debian's /usr/bin/python3, the newest pyenv interpreter of each minor version
3.8–3.13 in $PYENV_ROOT/versions (default /root/.pyenv), and the 3.14 and 3.15 interpreters scripts/install-sid-pythons.sh
makes from Debian sid's packages (static, nopie and shared libpython; one flavour of each version
again with PYTHON_JIT=1); skipped when absent, failed under CI=true. The workloads in
tests/workloads/python/, whose shape is known: which function takes what share of the CPU time, on
which line, under which exact chain of callers. One `profkit record` run per interpreter and
workload is shared by the assertions on it.
"""
import collections
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (IN_CI, REPO, TEST_RATE, assert_sample_count, cpu_seconds, located_frames,
                      process_cpu_seconds, require)
from test_run import config as run_config, parse_multipart, uploads_of

WORKLOADS = REPO / "tests/workloads/python"
# pyenv builds, as the unit tests find them (tests/unit/testing/installed_pythons.h).
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT") or "/root/.pyenv") / "versions"
# Debian sid's interpreters: "<version>-<flavour>", "-jit" for a run with PYTHON_JIT=1.
SID_PYTHON_ROOT = Path(os.environ.get("PROFKIT_SID_PYTHON_ROOT", "/var/cache/profkit/sid-python"))
SID_PYTHONS = tuple(f"{version}-{flavour}" for version in ("3.14", "3.15")
                    for flavour in ("static", "nopie", "shared")) + ("3.14-static-jit", "3.15-shared-jit")
SUPPORTED = ("debian", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13") + SID_PYTHONS
# profkit has no offsets for these: their processes must still be profiled, with native frames.
UNSUPPORTED = ("3.6", "3.7")

SHARE_TOLERANCE = 0.05  # ±5 points
# Samples of split.py whose innermost Python frame is one of its two hot functions.
HOT_FUNCTIONS_SHARE = 0.90
# Samples in the workload's code whose outermost Python frame is <module> (threading's _bootstrap
# for another thread).
COMPLETE_STACKS = 0.95
# Samples of the thread in GIL-released C code whose innermost Python frame is its caller.
GIL_RELEASED_ATTRIBUTED = 0.90
# Samples of a hot function on its hot line: the whole loop sits on that line, so anything else
# is a line-table or instruction-index error.
HOT_LINE_SHARE = 0.95
# Samples of the zlib worker whose innermost (sampled) frame is in libz: the GIL-released work
# itself, above the Python caller.
LIBZ_LEAF_SHARE = 0.80
# Samples below which a thread's shares say nothing.
MIN_THREAD_SAMPLES = 100
WORKLOAD_SECONDS = 3
RECURSION_DEPTHS = (50, 300)
WORKER_THREAD_NAME = "zlib-worker"
THREAD_ROOTS = ("_bootstrap", "Thread._bootstrap")


class Interpreter:
    def __init__(self, label, path):
        self.label = label
        self.path = path
        self.jit = label.endswith("-jit")
        # The environment of every run of this interpreter: the JIT on for "-jit", else as built.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHON_JIT"}
        if self.jit:
            self.env["PYTHON_JIT"] = "1"
        probe = subprocess.run([path, "-c", "import platform, sys; print(platform.python_version()); "
                                "print(sys.implementation.name); "
                                "print(getattr(sys, '_jit', None) is not None and sys._jit.is_enabled())"],
                               capture_output=True, text=True, timeout=60, check=True, env=self.env)
        self.version, implementation, jit_enabled = probe.stdout.split()
        assert implementation == "cpython", f"{path} is {implementation}"
        assert (jit_enabled == "True") == self.jit, f"{path}: JIT enabled is {jit_enabled} with PYTHON_JIT=1: {self.jit}"
        self.version_info = tuple(int(part) for part in self.version.split(".")[:2])

    def name(self, qualname):
        """The function name profkit reports: co_qualname from 3.11, co_name before."""
        return qualname if self.version_info >= (3, 11) else qualname.rpartition(".")[2]

    def __repr__(self):
        return f"{self.path} ({self.version})"


def find_interpreter(label):
    if label == "debian":
        path = Path("/usr/bin/python3")
        return path if path.exists() else None
    if label in SID_PYTHONS:
        return sid_interpreter(label)

    def version_key(directory):
        return tuple(int(part) if part.isdigit() else -1 for part in directory.name.split("."))

    for directory in sorted(PYENV_VERSIONS.glob(f"{label}.*"), key=version_key, reverse=True):
        path = directory / "bin" / f"python{label}"
        if path.exists():
            return path
    return None


def sid_interpreter(label):
    """A path of SID_PYTHON_ROOT/interpreters.txt ("version flavour path full-version" lines)."""
    version, flavour = label.split("-")[:2]
    try:
        listed = (SID_PYTHON_ROOT / "interpreters.txt").read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in listed:
        fields = line.split()
        if fields[:2] == [version, flavour] and Path(fields[2]).exists():
            return Path(fields[2])
    return None


def interpreter_or_skip(label):
    path = find_interpreter(label)
    if label == "debian":
        where = "/usr/bin/python3"
    elif label in SID_PYTHONS:
        where = f"{SID_PYTHON_ROOT}/interpreters.txt (scripts/install-sid-pythons.sh makes it)"
    else:
        where = f"{PYENV_VERSIONS}/{label}.*/bin/python{label}"
    require(path is not None, f"no CPython {label} interpreter at {where}")
    return Interpreter(label, path)


@pytest.fixture(scope="module", params=SUPPORTED)
def python(request, root, profkit_bin):
    return interpreter_or_skip(request.param)


class Recording:
    """One `profkit record` run: the decoded pprof, the workload's output, the target pid."""

    def __init__(self, profile, stdout, stderr, pid, cpu):
        self.profile = profile
        self.stdout = stdout
        self.stderr = stderr
        self.pid = pid
        self.cpu = cpu
        self.samples = [(sample.value[0], located_frames(profile, sample), profile.labels(sample))
                        for sample in profile.message.sample]
        self.total = profile.total()


def record_command(profkit_bin, read_pprof, out, argv, env=None):
    result = subprocess.run([profkit_bin, "record", "--rate", str(TEST_RATE), "--format", "pprof", "--output",
                             str(out), "--", *map(str, argv)], capture_output=True, text=True, timeout=120,
                            env=env)
    assert result.returncode == 0, result.stderr
    profile = read_pprof(out.read_bytes())
    pids = {profile.labels(sample)["pid"] for sample in profile.message.sample}
    assert len(pids) <= 1, f"samples of several processes: {pids}"
    return Recording(profile, result.stdout, result.stderr, pids.pop() if pids else None,
                     cpu_seconds(result.stdout))


@pytest.fixture(scope="module")
def record_workload(python, profkit_bin, read_pprof, tmp_path_factory):
    """Records `python <workload> args`, once per interpreter, workload and arguments."""
    cache = {}

    def record(script, *args):
        key = (script, args)
        if key not in cache:
            out = tmp_path_factory.mktemp("py") / f"{Path(script).stem}.pprof"
            cache[key] = record_command(profkit_bin, read_pprof, out, [python.path, WORKLOADS / script, *args],
                                        python.env)
        return cache[key]

    return record


def script_line(script, code):
    """The number of the one line of a workload whose text starts with `code` (after indentation)
    or ends with the marker comment `code`."""
    lines = (WORKLOADS / script).read_text().splitlines()
    hits = [n for n, text in enumerate(lines, 1) if text.strip().startswith(code) or text.endswith(f"# {code}")]
    assert len(hits) == 1, f"{script}: {code!r} on lines {hits}"
    return hits[0]


def python_frames(frames):
    """The Python frames of a sample: mapping 0 and the code object's file name (native frames
    profkit could not place in any mapping also have mapping 0, but no file)."""
    return [f for f in frames if f.interpreted and f.filename]


def stack_summary(frames):
    """(innermost frame, innermost Python frame, outermost Python frame) for failure messages."""
    py = python_frames(frames)
    return (frames[0].name if frames else None, py[0].name if py else None, py[-1].name if py else None)


def share(count, total):
    return count / total if total else 0.0


def describe(counter, total, limit=8):
    """The most common entries of a counter with their shares, for failure messages."""
    return "; ".join(f"{share(n, total):.1%} {key}" for key, n in counter.most_common(limit))


def check_frame_details(recording, script, leaves, functions):
    """In the stacks whose innermost Python frame is one of `leaves`, the frames of `functions`
    name the workload's file and the function's first line: that of the line starting with the
    given text, or 1 for <module>."""
    path = str(WORKLOADS / script)
    wrong = collections.Counter()
    for count, frames, _ in recording.samples:
        py = python_frames(frames)
        if not py or py[0].name not in leaves:
            continue
        for f in py:
            if f.name in functions:
                expected_start = 1 if f.name == "<module>" else script_line(script, functions[f.name])
                if f.filename != path or f.start_line != expected_start:
                    wrong[(f.name, f.filename, f.start_line, expected_start)] += count
    assert not wrong, f"Python frames with the wrong file or first line (name, file, first line, expected): {wrong}"


def check_complete(recording, script):
    """Stacks reach their root in COMPLETE_STACKS of the samples: <module> for the main thread,
    threading's _bootstrap for other threads. Samples whose Python frames are all outside the
    workload's file are left out: the interpreter's own start-up (site and the imports it makes
    from C, rooted in _find_and_load) and shutdown have no <module> to reach. Samples without any
    Python frame count, as incomplete."""
    path = str(WORKLOADS / script)
    complete = considered = everything = 0
    incomplete = collections.Counter()
    for count, frames, labels in recording.samples:
        everything += count
        py = python_frames(frames)
        if py and all(f.filename != path for f in py):
            continue
        considered += count
        roots = ("<module>",) if labels["tid"] == labels["pid"] else THREAD_ROOTS
        if py and py[-1].name in roots:
            complete += count
        else:
            incomplete[stack_summary(frames)] += count
    assert share(complete, considered) >= COMPLETE_STACKS, (
        f"{share(complete, considered):.1%} of the {considered} samples in the workload's code reach the root "
        f"frame ({share(complete, everything):.1%} of all {everything}); the others' (innermost frame, innermost "
        f"Python frame, outermost Python frame): {describe(incomplete, considered)}")


# --- known split --------------------------------------------------------------------------------

def split_chains(python):
    """The exact Python stacks of split.py's hot functions, innermost first, as (name, line)."""
    s = "split.py"
    callers = [("run", script_line(s, "round_trip(crunch)")), ("main", script_line(s, "run(float(")),
               ("<module>", script_line(s, "main()"))]
    return {
        "hot_a": [("hot_a", script_line(s, "HOT_A")), ("round_trip", script_line(s, "hot_a(ITERATIONS"))] + callers,
        python.name("Crunch.hot_b"): [(python.name("Crunch.hot_b"), script_line(s, "HOT_B")),
                                      ("round_trip", script_line(s, "crunch.hot_b("))] + callers,
    }


def check_split(recording, python):
    total = recording.total
    chains = split_chains(python)
    leaves = collections.Counter()
    exact = collections.Counter()
    other_chains = collections.Counter()
    for count, frames, labels in recording.samples:
        py = python_frames(frames)
        if not py:
            continue
        leaves[py[0].name] += count
        chain = [(f.name, f.line) for f in py]
        if chains.get(py[0].name) == chain:
            exact[py[0].name] += count
        elif py[0].name in chains:
            other_chains[tuple(chain)] += count
    # The workload splits the work of its two hot functions 70/30 by iteration count; the rest of
    # the process (start-up, exit, the deadline check, and under load the kernel's interrupt work
    # charged to it) is a few percent that grows with the machine's load, so the split is taken
    # between the two and their sum checked apart.
    hot_functions = (("hot_a", 0.70), (python.name("Crunch.hot_b"), 0.30))
    hot = sum(leaves[function] for function, _ in hot_functions)
    assert share(hot, total) >= HOT_FUNCTIONS_SHARE, (
        f"the hot functions: {share(hot, total):.1%} of {total} samples; "
        f"innermost Python frames: {describe(leaves, total)}")
    for function, expected in hot_functions:
        assert abs(share(leaves[function], hot) - expected) <= SHARE_TOLERANCE, (
            f"{function}: {share(leaves[function], hot):.1%} of {hot} samples in the hot functions, "
            f"expected {expected:.0%}; innermost Python frames: {describe(leaves, total)}")
        # The hot line and every caller's call line, down to <module>.
        assert share(exact[function], leaves[function]) >= HOT_LINE_SHARE, (
            f"{function}: {share(exact[function], leaves[function]):.1%} of its samples have the exact stack "
            f"{chains[function]}; others: {describe(other_chains, leaves[function])}")
    check_complete(recording, "split.py")
    check_frame_details(recording, "split.py", chains, {
        "hot_a": "def hot_a(", python.name("Crunch.hot_b"): "def hot_b(", "round_trip": "def round_trip(",
        "run": "def run(", "main": "def main(", "<module>": None})


def test_split_shares_lines_and_stacks(python, record_workload):
    recording = record_workload("split.py", WORKLOAD_SECONDS)
    assert_sample_count(recording.total, recording.cpu, TEST_RATE)
    # The child profkit forked is still called profkit for the few samples before its exec.
    names = {python.path.name[:15], "profkit"}
    for _, _, labels in recording.samples:
        assert (labels["pid"], labels["tid"]) == (recording.pid, recording.pid), labels
        assert labels["thread_name"] in names, labels
    check_split(recording, python)


class CpuTimeline:
    """A single-threaded process's CPU time sampled every few ms in the background, so the CPU time inside the
    window a profile covers (its time_nanos and duration_nanos) can be read afterwards: the CPU
    used while profkit attaches and writes its file is not sampled and must not be expected."""

    POLL_SECONDS = 0.02

    def __init__(self, pid):
        self.path = Path(f"/proc/{pid}/schedstat")
        self.points = []  # (CLOCK_REALTIME ns, CPU ns)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        """Stops polling with a last point taken now, after everything the window can cover."""
        self.done.set()
        self.thread.join()
        self.read()

    def read(self):
        try:
            self.points.append((time.time_ns(), int(self.path.read_text().split()[0])))
            return True
        except (OSError, ValueError, IndexError):
            return False

    def poll(self):
        while self.read() and not self.done.wait(self.POLL_SECONDS):
            pass

    def cpu_at(self, when_ns):
        assert self.points and self.points[0][0] <= when_ns <= self.points[-1][0], (
            f"{when_ns} outside the polled range {self.points[:1]}..{self.points[-1:]}")
        for (t0, c0), (t1, c1) in zip(self.points, self.points[1:]):
            if t0 <= when_ns <= t1:
                return c0 + (c1 - c0) * (when_ns - t0) / max(1, t1 - t0)
        return self.points[-1][1]

    def cpu_between(self, start_ns, end_ns):
        return (self.cpu_at(end_ns) - self.cpu_at(start_ns)) / 1e9


def test_pid_mode_gives_the_same_python_stacks(python, record_workload, profkit_bin, read_pprof, tmp_path):
    """A process started before profkit, recorded with --pid, against the same run under the command."""
    command_run = record_workload("split.py", WORKLOAD_SECONDS)
    workload = subprocess.Popen([python.path, WORKLOADS / "split.py", "60"], stdout=subprocess.DEVNULL,
                                env=python.env)
    timeline = CpuTimeline(workload.pid)
    try:
        # Past interpreter start-up, so the interpreter is found in a running process.
        deadline = time.monotonic() + 30
        while process_cpu_seconds(workload.pid) < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling /proc: there is no event to wait on
        out = tmp_path / "pid.pprof"
        timeline.start()
        result = subprocess.run([profkit_bin, "record", "--pid", str(workload.pid), "--rate", str(TEST_RATE),
                                 "--duration", str(WORKLOAD_SECONDS), "--output", str(out)],
                                capture_output=True, text=True, timeout=120)
    finally:
        timeline.stop()
        workload.kill()
        workload.wait()
    assert result.returncode == 0, result.stderr
    profile = read_pprof(out.read_bytes())
    start = profile.message.time_nanos
    cpu = timeline.cpu_between(start, start + profile.message.duration_nanos)
    pid_run = Recording(profile, "", result.stderr, workload.pid, cpu)
    assert_sample_count(pid_run.total, cpu, TEST_RATE)
    check_split(pid_run, python)

    def weights(recording):
        out = collections.Counter()
        for count, frames, _ in recording.samples:
            out[tuple((f.name, f.filename, f.start_line, f.line) for f in python_frames(frames))] += count
        return out

    command_stacks, pid_stacks = weights(command_run), weights(pid_run)
    # The stacks that carry the split are the same, frame for frame...
    for stack, count in command_stacks.most_common(2):
        assert pid_stacks[stack] > 0, f"--pid never saw {stack}; it saw {describe(pid_stacks, pid_run.total, 4)}"
    # ...and nearly everything --pid saw was seen under the command too.
    seen = sum(count for stack, count in pid_stacks.items() if stack in command_stacks)
    assert share(seen, pid_run.total) >= COMPLETE_STACKS, describe(
        collections.Counter({s: c for s, c in pid_stacks.items() if s not in command_stacks}), pid_run.total)


# --- two threads, one GIL-released ---------------------------------------------------------------

def test_threads_gil_released_worker(python, record_workload):
    recording = record_workload("threads.py", WORKLOAD_SECONDS)
    assert_sample_count(recording.total, recording.cpu, TEST_RATE)
    compress_line = script_line("threads.py", "COMPRESS")
    worker_call_line = script_line("threads.py", "compress_loop(data, stop)")
    hot_main_line = script_line("threads.py", "HOT_MAIN")

    worker_total = main_total = 0
    attributed = attributed_exact = libz_leaf = main_hot = 0
    worker_leaves, main_leaves, worker_native = (collections.Counter() for _ in range(3))
    for count, frames, labels in recording.samples:
        py = python_frames(frames)
        if labels["thread_name"] == WORKER_THREAD_NAME:
            assert labels["pid"] == recording.pid and labels["tid"] != recording.pid, labels
            worker_total += count
            worker_leaves[(py[0].name, py[0].line) if py else None] += count
            worker_native[frames[0].mapping_file if frames else None] += count
            if py and py[0].name == "compress_loop":
                attributed += count
                if [(f.name, f.line) for f in py[:2]] == [("compress_loop", compress_line), ("worker", worker_call_line)]:
                    attributed_exact += count
            if frames and "libz.so" in frames[0].mapping_file:
                libz_leaf += count
        elif labels["tid"] == recording.pid:
            main_total += count
            main_leaves[(py[0].name, py[0].line) if py else None] += count
            if py and (py[0].name, py[0].line) == ("spin_main", hot_main_line):
                main_hot += count

    assert worker_total >= MIN_THREAD_SAMPLES, (
        f"{worker_total} samples labelled {WORKER_THREAD_NAME!r} of {recording.total}; thread names: "
        f"{collections.Counter(labels['thread_name'] for _, _, labels in recording.samples)}")
    assert share(attributed, worker_total) >= GIL_RELEASED_ATTRIBUTED, (
        f"{share(attributed, worker_total):.1%} of {worker_total} worker samples have compress_loop as innermost "
        f"Python frame; innermost Python frames: {describe(worker_leaves, worker_total)}")
    assert share(attributed_exact, attributed) >= HOT_LINE_SHARE, (
        f"{share(attributed_exact, attributed):.1%} of the attributed samples have compress_loop:{compress_line} "
        f"<- worker:{worker_call_line}; innermost Python frames: {describe(worker_leaves, worker_total)}")
    assert share(libz_leaf, worker_total) >= LIBZ_LEAF_SHARE, (
        f"{share(libz_leaf, worker_total):.1%} of worker samples have their innermost frame in libz; innermost "
        f"frames' mappings: {describe(worker_native, worker_total)}")

    assert main_total >= MIN_THREAD_SAMPLES, f"{main_total} main-thread samples of {recording.total}"
    # The rest of the main thread's time builds the corpus before the worker starts.
    assert share(main_hot, main_total) >= 0.80, (
        f"{share(main_hot, main_total):.1%} of main-thread samples in spin_main:{hot_main_line}; "
        f"innermost Python frames: {describe(main_leaves, main_total)}")
    check_complete(recording, "threads.py")


# --- recursion ----------------------------------------------------------------------------------

def test_recursion_50_and_300_deep(python, record_workload):
    recording = record_workload("recursion.py", WORKLOAD_SECONDS, *RECURSION_DEPTHS)
    assert_sample_count(recording.total, recording.cpu, TEST_RATE)
    s = "recursion.py"
    hot, leaf_call, recurse = script_line(s, "HOT_LEAF"), script_line(s, "LEAF_CALL"), script_line(s, "RECURSE")
    bottom = [("main", script_line(s, "descend(depth,")), ("<module>", script_line(s, "main()"))]
    expected = {depth: [("spin", hot), ("descend", leaf_call)] + [("descend", recurse)] * (depth - 1) + bottom
                for depth in RECURSION_DEPTHS}
    exact = collections.Counter()
    seen = collections.Counter()  # (innermost Python frame, number of descend frames, outermost)
    spin_total = 0
    for count, frames, _ in recording.samples:
        py = python_frames(frames)
        if not py:
            seen[None] += count
            continue
        depth = sum(1 for f in py if f.name == "descend")
        seen[(py[0].name, depth, py[-1].name)] += count
        if py[0].name == "spin":
            spin_total += count
            if depth in expected and [(f.name, f.line) for f in py] == expected[depth]:
                exact[depth] += count
    for depth in RECURSION_DEPTHS:
        # Each depth spins for half of the workload's CPU time.
        assert share(exact[depth], recording.total) >= 0.40, (
            f"depth {depth}: {share(exact[depth], recording.total):.1%} of {recording.total} samples have the "
            f"exact {depth + 3}-frame Python stack; (innermost, descend frames, outermost): "
            f"{describe(seen, recording.total)}")
    assert share(sum(exact.values()), spin_total) >= COMPLETE_STACKS, (
        f"{share(sum(exact.values()), spin_total):.1%} of spin samples have the exact stack; "
        f"(innermost, descend frames, outermost): {describe(seen, recording.total)}")
    check_complete(recording, "recursion.py")


# --- asyncio ------------------------------------------------------------------------------------

def test_asyncio_coroutines(python, record_workload):
    recording = record_workload("coroutines.py", WORKLOAD_SECONDS)
    assert_sample_count(recording.total, recording.cpu, TEST_RATE)
    hot = {"crunch_large": script_line("coroutines.py", "HOT_LARGE"),
           "crunch_small": script_line("coroutines.py", "HOT_SMALL")}
    leaves = collections.Counter()
    on_hot_line = collections.Counter()
    for count, frames, _ in recording.samples:
        py = python_frames(frames)
        if not py:
            leaves[None] += count
            continue
        leaves[py[0].name] += count
        if hot.get(py[0].name) == py[0].line:
            on_hot_line[py[0].name] += count
    large, small, total = leaves["crunch_large"], leaves["crunch_small"], recording.total
    # The rest is importing asyncio and the event loop between chunks.
    assert share(large + small, total) >= 0.80, (
        f"{share(large + small, total):.1%} of {total} samples in the coroutines; innermost Python frames: "
        f"{describe(leaves, total)}")
    assert abs(share(large, large + small) - 2 / 3) <= SHARE_TOLERANCE, (
        f"crunch_large has {share(large, large + small):.1%} of the coroutines' samples, expected 66.7%")
    for name in hot:
        assert share(on_hot_line[name], leaves[name]) >= HOT_LINE_SHARE, (
            f"{name}: {share(on_hot_line[name], leaves[name]):.1%} of its samples on line {hot[name]}")
    check_complete(recording, "coroutines.py")
    check_frame_details(recording, "coroutines.py", hot,
                        {"crunch_large": "async def crunch_large(", "crunch_small": "async def crunch_small("})


# --- a C extension calling back into Python ------------------------------------------------------

# Where the C code between sort_rounds and its callback compare runs: libc's qsort, libffi, _ctypes.
CALLBACK_C_CODE = ("libc.so", "libffi.so", "_ctypes")


def test_c_extension_calls_back_into_python(python, record_workload):
    """The Python stack continues through C code that called Python back (each such call starts a
    new eval loop with its own entry frame), and C code of that path that the native walk reached
    stays between the callback and its Python caller."""
    recording = record_workload("callback.py", WORKLOAD_SECONDS)
    assert_sample_count(recording.total, recording.cpu, TEST_RATE)
    s = "callback.py"
    expected = [("compare", script_line(s, "HOT_COMPARE")), ("sort_rounds", script_line(s, "QSORT")),
                ("main", script_line(s, "sort_rounds(float(")), ("<module>", script_line(s, "main()"))]
    leaves, chains, misplaced = (collections.Counter() for _ in range(3))
    exact = interleaved = 0
    for count, frames, _ in recording.samples:
        py_positions = [i for i, f in enumerate(frames) if f.interpreted and f.filename]
        leaves[frames[py_positions[0]].name if py_positions else None] += count
        if not py_positions or frames[py_positions[0]].name != "compare":
            continue
        chain = [(frames[i].name, frames[i].line) for i in py_positions]
        if chain == expected:
            exact += count
        else:
            chains[tuple(chain)] += count
        # Native frames of the callback's C path below compare lie above sort_rounds, never further
        # down among the Python callers.
        if len(py_positions) < 2:
            continue
        compare_at, caller_at, outermost_at = py_positions[0], py_positions[1], py_positions[-1]
        below = [i for i, f in enumerate(frames) if compare_at < i < outermost_at and not f.interpreted
                 and any(part in f.mapping_file for part in CALLBACK_C_CODE)]
        if any(i > caller_at for i in below):
            misplaced[tuple(repr(f) for f in frames)] += count
        elif below:
            interleaved += count
    in_compare, total = leaves["compare"], recording.total
    # The rest is ctypes converting arguments and the loop that refills the array.
    assert share(in_compare, total) >= 0.80, (
        f"{share(in_compare, total):.1%} of {total} samples in compare; innermost Python frames: "
        f"{describe(leaves, total)}")
    assert share(exact, in_compare) >= HOT_LINE_SHARE, (
        f"{share(exact, in_compare):.1%} of compare's {in_compare} samples have the exact stack {expected} "
        f"({share(interleaved, in_compare):.1%} with the C code in between); others: {describe(chains, in_compare)}")
    assert not misplaced, (
        f"C code of the callback path below sort_rounds in {sum(misplaced.values())} samples: "
        f"{describe(misplaced, in_compare, 3)}")
    check_complete(recording, s)
    check_frame_details(recording, s, {"compare"}, {"compare": "def compare(", "sort_rounds": "def sort_rounds(",
                                                    "main": "def main(", "<module>": None})


# --- unsupported versions -----------------------------------------------------------------------

@pytest.mark.parametrize("label", UNSUPPORTED)
def test_unsupported_version_gets_native_stacks(label, root, profkit_bin, read_pprof, tmp_path):
    path = find_interpreter(label)
    if path is None:
        pytest.skip(f"no pyenv CPython {label} in {PYENV_VERSIONS}")
    recording = record_command(profkit_bin, read_pprof, tmp_path / "old.pprof",
                               [path, WORKLOADS / "split.py", WORKLOAD_SECONDS])
    assert_sample_count(recording.total, recording.cpu, TEST_RATE)
    interpreted = collections.Counter()
    in_interpreter = 0
    for count, frames, _ in recording.samples:
        interpreted.update(repr(f) for f in python_frames(frames))
        # Native frames in libpython3.xm.so (pyenv builds it shared) or the python executable.
        if any("python" in Path(f.mapping_file).name for f in frames if not f.interpreted):
            in_interpreter += count
    assert not interpreted, f"Python frames for an unsupported version: {interpreted.most_common(5)}"
    assert share(in_interpreter, recording.total) >= 0.90, (
        f"{share(in_interpreter, recording.total):.1%} of samples have native frames in the interpreter")


# --- profkit run ---------------------------------------------------------------------------------

def test_run_names_python_services(root, profkit_bin, start_agent, fake_dataway, read_pprof, tmp_path):
    """The daemon's service, language and runtime tags for every interpreter, and DD_SERVICE."""
    if IN_CI:
        interpreters = [interpreter_or_skip(label) for label in SUPPORTED]
    else:
        interpreters = [Interpreter(label, path) for label in SUPPORTED if (path := find_interpreter(label))]
        require(interpreters, f"no CPython interpreter among {SUPPORTED}")
    agent = start_agent(run_config(f"http://127.0.0.1:{fake_dataway.port}/?token=tkn_py", tmp_path / "profiles"))
    agent.wait_for_log("eBPF sampling started")
    expected = {}  # service -> (interpreter, CPU seconds, extra tags)
    for python in interpreters:
        service = f"pyapp{python.label.replace('.', '')}"
        script = tmp_path / f"{service}.py"
        shutil.copy(WORKLOADS / "split.py", script)
        done = subprocess.run([python.path, script, "1.5"], capture_output=True, text=True, timeout=60, check=True,
                              env=python.env)
        expected[service] = (python, cpu_seconds(done.stdout), {})
    dd_tags = {"service": "py-dd-service", "env": "py-env", "version": "9.8.7"}
    env = dict(interpreters[0].env, DD_SERVICE=dd_tags["service"], DD_ENV=dd_tags["env"],
               DD_VERSION=dd_tags["version"])
    script = tmp_path / "not_the_service.py"
    shutil.copy(WORKLOADS / "split.py", script)
    done = subprocess.run([interpreters[0].path, script, "1.5"], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    expected[dd_tags["service"]] = (interpreters[0], cpu_seconds(done.stdout), dd_tags)

    def samples_of(requests, service):
        return sum(read_pprof(parts["cpu.pprof"][1]).total() for _, parts, _ in uploads_of(requests, service))

    def all_delivered(requests):
        return all(samples_of(requests, s) >= 0.85 * cpu * TEST_RATE for s, (_, cpu, _) in expected.items())

    try:
        # Each interval is uploaded within about one more (2 s) once the workloads are done.
        requests = fake_dataway.wait_for(all_delivered, timeout=30)
    except AssertionError as error:
        requests = list(fake_dataway.requests)
        got = {service: samples_of(requests, service) for service in expected}
        services = collections.Counter(service_of(request) for request in requests)
        raise AssertionError(f"{error}; samples of each expected service: {got}; uploads per service: "
                             f"{dict(services)}") from None
    assert agent.stop(timeout=10) == 0

    failures = []
    for service, (python, cpu, tags) in expected.items():
        uploads = uploads_of(requests, service)
        hot_a = hot = total = without_python = 0
        wrong_tags = set()
        leaves = collections.Counter()
        for _, parts, event in uploads:
            event_tags = dict(t.split(":", 1) for t in event["tags_profiler"].split(","))
            want = dict(tags, service=service, runtime="cpython", runtime_version=python.version)
            wrong = {k: (event_tags.get(k), v) for k, v in want.items() if event_tags.get(k) != v}
            if event["language"] != "python":
                wrong["language"] = (event["language"], "python")
            if wrong:
                wrong_tags.add(repr(wrong))
            profile = read_pprof(parts["cpu.pprof"][1])
            total += profile.total()
            for sample in profile.message.sample:
                frames = located_frames(profile, sample)
                py = python_frames(frames)
                if py and py[0].name == "hot_a":
                    hot_a += sample.value[0]
                if py and py[0].name in ("hot_a", python.name("Crunch.hot_b")):
                    hot += sample.value[0]
                without_python += 0 if py else sample.value[0]
                leaves[stack_summary(frames)] += sample.value[0]
        if wrong_tags:
            failures.append(f"{service} ({python}): (got, expected) {', '.join(sorted(wrong_tags))}")
        # The 70/30 split is between the two hot functions, whose sum is checked apart: the rest of
        # the process (start-up, exit, interrupt work charged to it) grows with the machine's load
        # (as in check_split).
        if (abs(share(hot_a, hot) - 0.70) > SHARE_TOLERANCE or
                share(hot, total) < HOT_FUNCTIONS_SHARE):
            failures.append(f"{service} ({python}): hot_a has {share(hot_a, hot):.1%} of the {hot} samples "
                            f"in the hot functions, which have {share(hot, total):.1%} of {total}; "
                            f"{share(without_python, total):.1%} have no Python frame; "
                            f"(innermost frame, innermost Python frame, outermost Python frame): "
                            f"{describe(leaves, total, 5)}")
    assert not failures, "\n".join(failures)


def service_of(request):
    event = json.loads(parse_multipart(request)["event"][1])
    return dict(t.split(":", 1) for t in event["tags_profiler"].split(",")).get("service")
