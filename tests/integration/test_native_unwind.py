"""Native unwinding with .eh_frame tables in BPF (root + BPF): complete stacks of code built
without frame pointers, frame by frame on a known workload, and on Debian's xz against perf's
DWARF unwinder."""
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

from conftest import REPO, collapsed_counts, require

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


def perf_caller_chains(perf, perf_data, comm):
    """perf script's DWARF-unwound user stacks of `comm` as caller chains: (file, return address)
    per frame, leaf and kernel frames left out. perf prints a caller's address minus one."""
    text = subprocess.run([perf, "script", "-i", perf_data, "-F", "comm,ip,dso"],
                          capture_output=True, text=True, check=True).stdout
    chains = Counter()
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines()]
        if not lines or lines[0] != comm:
            continue
        frames = []
        for line in lines[1:]:
            address, _, dso = line.partition(" ")
            dso = dso.strip("()")
            if "kernel.kallsyms" in dso or dso.startswith("["):
                continue
            frames.append((os.path.basename(dso), int(address, 16)))
        if len(frames) > 1:
            chains[up_to_main_caller(tuple((name, address + 1) for name, address in frames[1:]),
                                     "xz")] += 1
    return chains


def profkit_caller_chains(profile, comm):
    """The same from a profkit pprof: mapping file and file-relative address per frame."""
    chains = Counter()
    for sample in profile.message.sample:
        if profile.labels(sample).get("thread_name") != comm:
            continue  # perf itself, the shell
        frames = []
        for location_id in sample.location_id:
            location = profile.locations[location_id]
            mapping = profile.mappings.get(location.mapping_id)
            if mapping is None or profile.s(mapping.filename).startswith("["):
                continue  # kernel frames
            address = location.address - mapping.memory_start + mapping.file_offset
            frames.append((os.path.basename(profile.s(mapping.filename)), address))
        if len(frames) > 1:
            chains[up_to_main_caller(tuple(frames[1:]), "xz")] += sample.value[0]
    return chains


def up_to_main_caller(chain, program):
    """The chain from the leaf up to libc's frame that called the program's main: perf's DWARF
    unwinder stops there in many samples (it misses __libc_start_main and _start), while profkit
    goes on to _start; those two outermost frames are the same in every sample of a process."""
    for i in range(1, len(chain)):
        if chain[i][0].startswith("libc.so") and chain[i - 1][0] == program:
            return chain[:i + 1]
    return chain


def overlap(a, b):
    """How much two stack distributions agree: the sum over stacks of the smaller share."""
    total_a, total_b = sum(a.values()), sum(b.values())
    return sum(min(count / total_a, b[chain] / total_b) for chain, count in a.items())


def test_xz_stacks_are_complete_and_match_perf(profkit_bin, root, tmp_path, read_pprof):
    xz = shutil.which("xz")
    perf = shutil.which("perf")
    require(xz is not None and perf is not None, "needs Debian's xz-utils and linux-perf")
    data = tmp_path / "data"
    with open(data, "wb") as f:
        f.write(os.urandom(12 << 20))
    perf_data = tmp_path / "perf.data"
    out = tmp_path / "xz.pprof"
    # perf's DWARF unwinder on the same run: xz runs under perf, which runs under profkit.
    result = subprocess.run(
        [profkit_bin, "record", "--rate", str(RATE), "--output", out, "--", perf, "record", "-q", "-F",
         str(RATE), "--call-graph", "dwarf,16384", "-o", perf_data, "--", "sh", "-c",
         f"{xz} -9 -T1 -c {data} > /dev/null"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    profile = read_pprof(out.read_bytes())
    ours = [s for s in profile.message.sample if profile.labels(s).get("thread_name") == "xz"]
    total = sum(s.value[0] for s in ours)
    assert total >= 300, result.stderr
    complete = sum(s.value[0] for s in ours if "__libc_start_main" in profile.frames(s))
    assert complete >= 0.95 * total, (complete, total)
    ours_chains = profkit_caller_chains(profile, "xz")
    perf_chains = perf_caller_chains(perf, perf_data, "xz")
    # A profkit sample equals perf's stack when perf unwound the same caller chain (two samplers
    # never hit the same instants, so samples are matched by chain, not one by one).
    equal = sum(n for chain, n in ours_chains.items() if chain in perf_chains) / sum(ours_chains.values())
    print(f"xz: {complete}/{total} complete; {equal:.1%} of samples have a caller chain perf "
          f"--call-graph dwarf also unwound; distributions overlap {overlap(ours_chains, perf_chains):.1%}")
    assert equal >= 0.90
