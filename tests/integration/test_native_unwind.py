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
    # Frame by frame, from the thread's entry (clone3, start_thread: libc.so.6 has no symbol table
    # for them): the 20 recursive calls, into the library and back. The first samples, taken
    # before the tables were built, have frame-pointer stacks: hence 90%, not all.
    good = sum(n for f, n in thread
               if f[2:] == THREAD_CHAIN and all(x.startswith("libc.so.6") for x in f[:2]))
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


def canonical(frame):
    """A frame both profkit and perf name the same way: the function, else the file."""
    frame = re.sub(r"\+0x[0-9a-f]+$", "", frame)
    return frame


def test_xz_stacks_are_complete_and_match_perf(profkit_bin, root, tmp_path):
    xz = shutil.which("xz")
    perf = shutil.which("perf")
    require(xz is not None and perf is not None, "needs Debian's xz-utils and linux-perf")
    data = tmp_path / "data"
    with open(data, "wb") as f:
        f.write(os.urandom(6 << 20))
    perf_data = tmp_path / "perf.data"
    # perf's DWARF unwinder on the same run: xz runs under perf, which runs under profkit.
    stacks, log = record(profkit_bin, tmp_path / "xz.txt", perf, "record", "-q", "-F", str(RATE),
                         "--call-graph", "dwarf,16384", "-o", perf_data, "--", xz, "-9", "-T1", "-c", "-k",
                         data, "-z")
    ours = [(f, n) for f, n in stacks if "lzma_code" in f]
    total = sum(n for _, n in ours)
    assert total >= 300, log
    complete = sum(n for f, n in ours if f[0] == "_start" or "__libc_start_main" in f)
    assert complete >= 0.95 * total, (complete, total)
