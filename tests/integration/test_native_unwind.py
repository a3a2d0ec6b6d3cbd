"""Native unwinding with .eh_frame tables in BPF (root + BPF): complete stacks of code built
without frame pointers, frame by frame on a known workload, and on Debian's xz against perf's
DWARF unwinder."""
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import REPO, collapsed_counts, free_port, located_frames, require

RATE = 199
THREAD_CHAIN = ["thread_main"] + ["recurse"] * 20 + ["deep_lib_call_back", "callback", "spin_in_thread"]
SIGNAL_CHAIN = ["on_signal", "spin_in_signal"]


def record(profkit_bin, out, *command, extra=()):
    result = subprocess.run(
        [profkit_bin, "record", "--rate", str(RATE), "--format", "collapsed", "--output", str(out),
         *extra, "--", *map(str, command)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return collapsed_counts(out.read_text()), result.stderr


@pytest.fixture(scope="module")
def deep_native(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    require(cc is not None, "needs a C compiler")
    out = tmp_path_factory.mktemp("deep_native")
    flags = ["-O2", "-g", "-fomit-frame-pointer", "-fno-optimize-sibling-calls"]
    lib = out / "libdeep_native_lib.so"
    subprocess.run([cc, *flags, "-shared", "-fPIC", "-o", lib, REPO / "tests/workloads/deep_native_lib.c"],
                   check=True)
    exe = out / "deep_native"
    subprocess.run([cc, *flags, "-pthread", "-o", exe, REPO / "tests/workloads/deep_native.c", lib,
                    f"-Wl,-rpath,{out}"], check=True)
    return exe


def own_frames(frames, names):
    return [f for f in frames if f in names]


def test_deep_chain_through_library_signal_and_thread(profkit_bin, root, deep_native, tmp_path):
    stacks, log = record(profkit_bin, tmp_path / "deep.txt", deep_native, "6")
    known = set(THREAD_CHAIN) | set(SIGNAL_CHAIN) | {"signal_loop", "main"}
    thread = [(f, n) for f, n in stacks if f[-1] == "spin_in_thread"]
    signal = [(f, n) for f, n in stacks if f[-1] == "spin_in_signal"]
    total_thread = sum(n for _, n in thread)
    total_signal = sum(n for _, n in signal)
    assert total_thread >= 100 and total_signal >= 100, (total_thread, total_signal, log)
    # Frame by frame, from the thread's entry (clone3, start_thread: named from libc6-dbg's debug
    # file where it is installed, else libc.so.6+0x… as libc.so.6 has no symbol table for them):
    # the 20 recursive calls, into the library and back. The first samples, taken before the
    # tables were built, have frame-pointer stacks: hence 90%, not all.
    thread_entry = {"__clone3", "start_thread"}
    good = sum(n for f, n in thread
               if f[2:] == THREAD_CHAIN and all(x in thread_entry or x.startswith("libc.so.6+") for x in f[:2]))
    assert good >= 0.90 * total_thread, [f for f, _ in thread][:5]
    # Across the signal frame: the handler, then the interrupted code down to the process entry.
    good = 0
    for frames, n in signal:
        mine = own_frames(frames, known)
        if mine == ["main", "signal_loop"] + SIGNAL_CHAIN and frames[0] == "_start":
            good += n
    assert good >= 0.90 * total_signal, [f for f, _ in signal][:5]


def test_frame_pointers_only_misses_the_chain(profkit_bin, root, deep_native, tmp_path):
    """The same workload without tables: the chain breaks (what the tables are for)."""
    stacks, _ = record(profkit_bin, tmp_path / "fp.txt", deep_native, "2", extra=["--frame-pointers-only"])
    thread = [(f, n) for f, n in stacks if f[-1] == "spin_in_thread"]
    total = sum(n for _, n in thread)
    complete = sum(n for f, n in thread if own_frames(f, set(THREAD_CHAIN)) == THREAD_CHAIN)
    assert total > 0 and complete < 0.5 * total


# --- comparing with perf's DWARF unwinder (`perf record --call-graph dwarf`) ---
#
# Both sides are reduced to caller chains: (file, return address) per frame from the leaf's caller
# outwards, kernel frames left out. Where a Python interpreter runs, a chain ends below the innermost
# eval-loop frame: profkit replaces that frame by the Python frames, which perf does not know.

EVAL_LOOP = "_PyEval_EvalFrameDefault"


def run_under_perf(profkit_bin, out, perf_data, command, perf_stack_bytes=16384, env=None, wait=None):
    """profkit records `perf record --call-graph dwarf -- command`: both unwind the same run. With
    `wait`, the recording runs in the background while wait() drives the workload (then returns
    when the command has exited). Returns profkit's log. On failure everything the recording
    started (perf, the command's servers) is killed with it: they share its process group."""
    log_path = Path(f"{out}.log")
    with open(log_path, "w") as log_file:
        recording = subprocess.Popen(
            [profkit_bin, "record", "--rate", str(RATE), "--output", out, "--", shutil.which("perf"),
             "record", "-q", "-F", str(RATE), "--call-graph", f"dwarf,{perf_stack_bytes}", "-o",
             perf_data,
             # No copies of every file into ~/.debug: perf script reads the files in place.
             "--no-buildid-cache", "--", *map(str, command)],
            stdout=subprocess.DEVNULL, stderr=log_file, env=env, start_new_session=True)
        try:
            if wait is not None:
                wait()
            recording.wait(timeout=600)
        finally:
            if recording.poll() is None:
                os.killpg(recording.pid, signal.SIGKILL)
                recording.wait()
    log = log_path.read_text()
    assert recording.returncode == 0, log
    return log


def perf_caller_chains(perf_data, pid, program):
    """perf script's DWARF-unwound user stacks of process `pid` as caller chains, keyed by
    (taken in the kernel, chain). perf prints a caller's address minus one; in a sample taken in
    a syscall it prints the user leaf twice (the registers' ip, then the unwinder's first frame)."""
    text = subprocess.run([shutil.which("perf"), "script", "--no-inline", "-i", perf_data,
                           "-F", "pid,ip,sym,dso"],
                          capture_output=True, text=True, check=True).stdout
    chains = Counter()
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines()]
        if not lines or lines[0] != str(pid):
            continue
        frames = []
        in_kernel = False
        for line in lines[1:]:
            address, _, rest = line.partition(" ")
            symbol, _, dso = rest.rpartition(" (")
            dso = dso.rstrip(")")
            if "kernel.kallsyms" in dso or dso.startswith("["):
                in_kernel = True
                continue
            frames.append((os.path.basename(dso), int(address, 16), symbol))
        if len(frames) > 1 and frames[0] == frames[1]:
            del frames[1]
        chain = []
        for name, address, symbol in frames[1:]:
            if symbol == EVAL_LOOP:
                break
            chain.append((name, address + 1))
        if chain:
            chains[in_kernel, up_to_main_caller(tuple(chain), program)] += 1
    return chains


def profkit_caller_chains(profile, pid, program):
    """The same from a profkit pprof: mapping file and file-relative address per frame, up to the
    first interpreted (Python) frame, which stands where the eval-loop frame was."""
    chains = Counter()
    for sample in profile.message.sample:
        if profile.labels(sample).get("pid") != pid:
            continue  # perf itself, the shell
        frames = []
        in_kernel = False
        for location_id in sample.location_id:
            location = profile.locations[location_id]
            if location.mapping_id == 0:
                break  # a Python frame
            mapping = profile.mappings[location.mapping_id]
            if profile.s(mapping.filename).startswith("["):
                in_kernel = True
                continue  # kernel frames
            address = location.address - mapping.memory_start + mapping.file_offset
            frames.append((os.path.basename(profile.s(mapping.filename)), address))
        if len(frames) > 1:
            chains[in_kernel, up_to_main_caller(tuple(frames[1:]), program)] += sample.value[0]
    return chains


def up_to_main_caller(chain, program):
    """The chain from the leaf up to libc's frame that called the program's main, or a thread's
    function: perf's DWARF unwinder stops there in many samples (it misses __libc_start_main and
    _start, or clone3 under start_thread), while profkit goes on to the entry; those outermost
    frames are the same in every sample of a process or thread."""
    for i in range(1, len(chain)):
        if chain[i][0].startswith("libc.so") and chain[i - 1][0] == program:
            return chain[:i + 1]
    if len(chain) >= 2 and chain[-1][0].startswith("libc.so") and chain[-2][0].startswith("libc.so"):
        return chain[:-1]  # start_thread, clone3
    return chain


def overlap(a, b):
    """How much two stack distributions agree: the sum over stacks of the smaller share."""
    total_a, total_b = sum(a.values()), sum(b.values())
    return sum(min(count / total_a, b[chain] / total_b) for chain, count in a.items())


def share_equal_to_perf(profile, perf_data, pid, program, what):
    """Share of profkit's samples whose caller chain perf also unwound (two samplers never hit the
    same instants, so samples are matched by chain, not one by one), of the samples taken in user
    mode and of all; printed with the overlap of the two distributions and the most frequent
    chains perf never unwound. The goal is checked on user-mode samples: in some runs perf's
    DWARF unwinder gets no further than the leaf, or than a garbage address, in every sample taken
    in a system call (sched_yield, write), which leaves no perf chain to compare with."""
    ours_by_mode = profkit_caller_chains(profile, pid, program)
    perf_by_mode = perf_caller_chains(perf_data, pid, program)
    assert ours_by_mode and perf_by_mode, (len(ours_by_mode), len(perf_by_mode))
    ours, perfs = Counter(), Counter()
    for (_, chain), n in ours_by_mode.items():
        ours[chain] += n
    for (_, chain), n in perf_by_mode.items():
        perfs[chain] += n
    equal = sum(n for chain, n in ours.items() if chain in perfs) / sum(ours.values())
    user = {chain: n for (in_kernel, chain), n in ours_by_mode.items() if not in_kernel}
    equal_user = sum(n for chain, n in user.items() if chain in perfs) / max(1, sum(user.values()))
    print(f"{what}: of profkit's samples with a caller chain perf --call-graph dwarf also unwound: "
          f"{equal_user:.1%} of {sum(user.values())} in user mode, {equal:.1%} of "
          f"{sum(ours.values())} in all ({sum(perfs.values())} perf samples); distributions "
          f"overlap {overlap(ours, perfs):.1%}")
    unequal = Counter({chain: n for chain, n in ours.items() if chain not in perfs})
    for chain, n in unequal.most_common(3):
        print(f"  not in perf's ({n}): {chain}")
    return equal_user


def test_xz_stacks_are_complete_and_match_perf(profkit_bin, root, tmp_path, read_pprof):
    xz = shutil.which("xz")
    require(xz is not None and shutil.which("perf") is not None, "needs Debian's xz-utils and linux-perf")
    data = tmp_path / "data"
    with open(data, "wb") as f:
        f.write(os.urandom(12 << 20))
    perf_data = tmp_path / "perf.data"
    out = tmp_path / "xz.pprof"
    # perf's DWARF unwinder on the same run: xz runs under perf, which runs under profkit.
    log = run_under_perf(profkit_bin, out, perf_data, ["sh", "-c", f"{xz} -9 -T1 -c {data} > /dev/null"])
    profile = read_pprof(out.read_bytes())
    ours = [s for s in profile.message.sample if profile.labels(s).get("thread_name") == "xz"]
    total = sum(s.value[0] for s in ours)
    assert total >= 300, log
    complete = sum(s.value[0] for s in ours if "__libc_start_main" in profile.frames(s))
    print(f"xz: {complete}/{total} complete")
    assert complete >= 0.95 * total, (complete, total)
    pid = profile.labels(ours[0])["pid"]
    assert share_equal_to_perf(profile, perf_data, pid, "xz", "xz") >= 0.90


def thread_cpu_seconds(pid, tid):
    """utime + stime of one live thread, from /proc/PID/task/TID/stat."""
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reaches_entry(frames, thread):
    """A complete stack ends at the process's entry (__libc_start_main, _start) or, on a thread
    of its own, at the thread's (start_thread, clone3: named from libc6-dbg's debug file where it
    is installed, else libc.so.6+0x…)."""
    if not thread:
        return "__libc_start_main" in frames[-3:]
    return frames[-1] in ("__clone3", "start_thread") or frames[-1].startswith("libc.so.6+")


def test_redis_stacks_are_complete_and_match_perf(profkit_bin, root, tmp_path, read_pprof):
    """Debian's redis-server (no frame pointers; main thread, I/O threads, background threads)
    serving redis-benchmark on loopback."""
    server, bench, cli = (shutil.which(name) for name in ("redis-server", "redis-benchmark", "redis-cli"))
    require(server and bench and cli and shutil.which("perf"),
            "needs Debian's redis-server, redis-tools and linux-perf")
    # A first server has the tables of its files built while it serves (taking frame-pointer
    # stacks until then: README, native unwinding limits); the second, measured one finds them.
    cold_port, port = free_port(), free_port()
    options = "--bind 127.0.0.1 --save '' --appendonly no --io-threads 2 --io-threads-do-reads yes"
    script = (f"{server} --port {cold_port} --dir {tmp_path} {options}; "
              f"{server} --port {port} --dir {tmp_path} {options}")

    def benchmark(port, cpu_seconds):
        """Requests until the main thread of the server on `port` used cpu_seconds of CPU (its
        I/O threads' share varies from run to run); stops it; returns its pid."""
        deadline = time.monotonic() + 60
        while subprocess.run([cli, "-p", str(port), "ping"], capture_output=True,
                             text=True).stdout.strip() != "PONG":
            assert time.monotonic() < deadline, f"redis-server on port {port} did not answer in 60 s"
            time.sleep(0.1)
        try:
            info = subprocess.run([cli, "-p", str(port), "info", "server"], capture_output=True,
                                  text=True, check=True).stdout
            pid = int(re.search(r"process_id:(\d+)", info).group(1))
            while thread_cpu_seconds(pid, pid) < cpu_seconds:
                subprocess.run([bench, "-h", "127.0.0.1", "-p", str(port), "-q", "-c", "50", "-P",
                                "8", "-n", "20000", "-t", "set,get,lpush,lpop"],
                               check=True, capture_output=True, timeout=300)
        finally:
            subprocess.run([cli, "-p", str(port), "shutdown", "nosave"], capture_output=True)
        return pid

    measured = []
    perf_data = tmp_path / "perf.data"
    out = tmp_path / "redis.pprof"
    # ~500 samples of the measured server's main thread at 2.5 s of CPU. perf copies the most stack it can (as for
    # numpy): a frame with large locals below the copy's end would end its walk early.
    log = run_under_perf(profkit_bin, out, perf_data, ["sh", "-c", script], perf_stack_bytes=65528,
                         wait=lambda: (benchmark(cold_port, 0.5), measured.append(benchmark(port, 2.5))))
    pid = measured[0]
    profile = read_pprof(out.read_bytes())
    totals, complete = Counter(), Counter()
    for sample in profile.message.sample:
        labels = profile.labels(sample)
        if labels["pid"] != pid:
            continue
        thread = labels["tid"] != pid  # io_thd_*, bio_*
        totals[thread] += sample.value[0]
        if reaches_entry(profile.frames(sample), thread):
            complete[thread] += sample.value[0]
    print(f"redis: main thread {complete[False]}/{totals[False]} complete, other threads "
          f"{complete[True]}/{totals[True]}")
    assert totals[False] >= 300 and totals[True] >= 50, log
    assert sum(complete.values()) >= 0.95 * sum(totals.values())
    program = os.path.basename(os.path.realpath(server))  # redis-check-rdb: one binary, two names
    assert share_equal_to_perf(profile, perf_data, pid, program, "redis") >= 0.90


OPENBLAS_DIR = Path("/usr/lib/x86_64-linux-gnu/openblas-pthread")
WALKS = re.compile(r"native unwinding: (\d+) stacks walked.*?, (\d+) of them incomplete")


def mapping_runs(frames):
    """The files a sample's frames are in, innermost first, repeats folded; "py" for Python."""
    runs = []
    for frame in frames:
        if frame.mapping_file.startswith("["):
            continue  # kernel
        name = "py" if frame.interpreted else os.path.basename(frame.mapping_file)
        if not runs or runs[-1] != name:
            runs.append(name)
    return runs


def python_thread_complete(profile, sample):
    """Complete: a native stack that reaches an entry, or Python frames from <module> in place of
    the eval loop with the native frames below them reaching the interpreter (a walk that stops
    early leaves the Python frames right above a library's frames)."""
    frames = profile.frames(sample)
    thread = profile.labels(sample)["tid"] != profile.labels(sample)["pid"]
    if frames[-1] != "<module>":
        return reaches_entry(frames, thread)
    runs = mapping_runs(located_frames(profile, sample))
    return runs == ["py"] or runs[-2] == "python3.11"


def test_numpy_openblas_stacks_are_complete_and_match_perf(profkit_bin, root, tmp_path, read_pprof):
    """Debian's python3.11 (static, no frame pointers) with numpy on OpenBLAS's threaded build
    (through LD_LIBRARY_PATH, leaving the system's BLAS alternative alone)."""
    python = Path("/usr/bin/python3.11")
    require(python.exists() and (OPENBLAS_DIR / "libblas.so.3").exists() and shutil.which("perf"),
            "needs Debian's python3.11, python3-numpy, libopenblas0-pthread and linux-perf")
    env = dict(os.environ, LD_LIBRARY_PATH=str(OPENBLAS_DIR), OPENBLAS_NUM_THREADS="2")
    workload = REPO / "tests/workloads/python/numpy_matmul.py"
    # A first process (named python-cold by the link it runs through) has its files' tables built
    # while it runs, taking frame-pointer stacks until then (README, native unwinding limits);
    # the second, measured one finds them built.
    cold = tmp_path / "python-cold"
    cold.symlink_to(python)
    perf_data = tmp_path / "perf.data"
    out = tmp_path / "numpy.pprof"
    # OpenBLAS's level-3 drivers keep large buffers on the stack: perf needs its largest stack copy.
    log = run_under_perf(profkit_bin, out, perf_data,
                         ["sh", "-c", f"{cold} {workload} 1.5 && exec {python} {workload} 4"],
                         perf_stack_bytes=65528, env=env)
    profile = read_pprof(out.read_bytes())
    samples = {name: [s for s in profile.message.sample if profile.labels(s).get("thread_name") == name]
               for name in ("python3.11", "python-cold")}
    ours = samples["python3.11"]
    total = sum(s.value[0] for s in ours)
    assert total >= 300, log

    # numpy runs on OpenBLAS: most leaves are its kernels.
    runs = {id(s): mapping_runs(located_frames(profile, s)) for s in ours}
    blas = [s for s in ours if runs[id(s)][0].startswith("libopenblas")]
    assert sum(s.value[0] for s in blas) >= 0.5 * total, Counter(runs[id(s)][0] for s in ours)

    # On the main thread, the Python caller of `a @ a` stands where the eval loop was, numpy's C
    # frames below it, OpenBLAS's above them.
    main_blas = [s for s in blas if profile.labels(s)["tid"] == profile.labels(s)["pid"]]

    def shape(sample):
        python_frames = [f.name for f in located_frames(profile, sample) if f.interpreted]
        return tuple(r for r in runs[id(sample)][1:] if r != "libblas.so.3"), tuple(python_frames)

    expected = (("_multiarray_umath.cpython-311-x86_64-linux-gnu.so", "python3.11", "py"),
                ("multiply", "main", "<module>"))
    shapes = Counter()
    for sample in main_blas:
        shapes[shape(sample)] += sample.value[0]
    assert shapes[expected] >= 0.90 * sum(shapes.values()), shapes.most_common(4)

    complete = {name: sum(s.value[0] for s in group if python_thread_complete(profile, s))
                for name, group in samples.items()}
    walked, incomplete = map(int, WALKS.search(log).groups())
    print(f"numpy: {complete['python3.11']}/{total} samples complete (the first process, building "
          f"the tables: {complete['python-cold']}/{sum(s.value[0] for s in samples['python-cold'])}); "
          f"BPF walks of both and perf reaching the stack's end: {walked - incomplete}/{walked}")
    incomplete_stacks = Counter(tuple(profile.frames(s)[-4:]) for s in ours
                                if not python_thread_complete(profile, s))
    assert complete["python3.11"] >= 0.95 * total, incomplete_stacks.most_common(5)
    pid = profile.labels(ours[0])["pid"]
    assert share_equal_to_perf(profile, perf_data, pid, "python3.11", "numpy") >= 0.90
