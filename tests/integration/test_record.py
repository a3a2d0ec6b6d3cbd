"""`profkit record` on a C workload with a known split of CPU time (root + BPF)."""
import subprocess
import time

from conftest import TEST_RATE, assert_sample_count, collapsed_counts, cpu_seconds, process_cpu_seconds

SHARE_TOLERANCE = 0.05  # ±5 points


def leaf_shares(stacks):
    total = sum(count for _, count in stacks)
    leaves = {}
    for frames, count in stacks:
        leaves[frames[-1]] = leaves.get(frames[-1], 0) + count
    return total, {name: count / total for name, count in leaves.items()}


def record(profkit_bin, *args):
    result = subprocess.run([profkit_bin, "record", *map(str, args)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_record_command_collapsed_shares(profkit_bin, root, two_functions, tmp_path):
    out = tmp_path / "stacks.txt"
    result = record(profkit_bin, "--rate", TEST_RATE, "--format", "collapsed", "--output", out, "--",
                    two_functions, "4")
    stacks = collapsed_counts(out.read_text())
    total, shares = leaf_shares(stacks)
    assert_sample_count(total, cpu_seconds(result.stdout), TEST_RATE)
    assert abs(shares.get("hot_a", 0) - 0.70) <= SHARE_TOLERANCE, shares
    assert abs(shares.get("hot_b", 0) - 0.30) <= SHARE_TOLERANCE, shares
    # The whole chain, root first, down to the leaf (whose caller a plain frame-pointer walk
    # would skip, because GCC gives leaf functions no frame).
    for frames, _ in stacks:
        if frames[-1] in ("hot_a", "hot_b"):
            assert frames[-3:-1] == ["main", "run_user"], frames


def test_record_kernel_frames_are_marked(profkit_bin, root, two_functions, tmp_path):
    out = tmp_path / "kernel.txt"
    result = record(profkit_bin, "--rate", TEST_RATE, "--format", "collapsed", "--output", out, "--",
                    two_functions, "3", "kernel")
    stacks = collapsed_counts(out.read_text())
    total = sum(count for _, count in stacks)
    assert_sample_count(total, cpu_seconds(result.stdout), TEST_RATE)
    # Reading 1 MiB of /dev/zero per call keeps the thread in the kernel's read path almost all the time.
    reads = [(frames, count) for frames, count in stacks if "vfs_read_[k]" in frames]
    assert sum(count for _, count in reads) / total >= 0.8, out.read_text()[:3000]
    for frames, _ in reads:
        # Kernel frames sit below (after) the user frames that made the system call, and the
        # user part is complete down to libc's frameless read wrapper.
        first_kernel = next(i for i, f in enumerate(frames) if f.endswith("_[k]"))
        assert all(f.endswith("_[k]") for f in frames[first_kernel:]), frames
        assert frames[first_kernel - 3:first_kernel - 1] == ["run_kernel", "read_zero"], frames


def test_record_pid_pprof(profkit_bin, root, two_functions, tmp_path, read_pprof, go_tool):
    workload = subprocess.Popen([two_functions, "30"], stdout=subprocess.DEVNULL)
    try:
        out = tmp_path / "pid.pprof"
        # The workload's CPU rate is measured from the moment sampling runs (loading the BPF
        # program takes seconds on a busy host) to record's exit, then applied to the profile's
        # own duration: the window the samples were taken in.
        recorder = subprocess.Popen(
            [profkit_bin, "record", "--pid", str(workload.pid), "--rate", str(TEST_RATE), "--duration", "3",
             "--output", str(out)], stderr=subprocess.PIPE, text=True)
        log = []
        for line in recorder.stderr:
            log.append(line)
            if "recording at" in line:
                break
        cpu_before, time_before = process_cpu_seconds(workload.pid), time.monotonic()
        rest = recorder.communicate(timeout=120)[1]
        cpu_rate = (process_cpu_seconds(workload.pid) - cpu_before) / (time.monotonic() - time_before)
        assert recorder.returncode == 0, "".join(log) + rest
    finally:
        workload.kill()
        workload.wait()
    profile = read_pprof(out.read_bytes())
    cpu = cpu_rate * profile.message.duration_nanos / 1e9
    assert profile.sample_types() == [("samples", "count"), ("cpu", "nanoseconds")]
    assert profile.message.period == 1_000_000_000 // TEST_RATE
    assert profile.message.duration_nanos >= 2_900_000_000
    assert_sample_count(profile.total(), cpu, TEST_RATE)
    assert abs(profile.leaf_share("hot_a") - 0.70) <= SHARE_TOLERANCE
    assert abs(profile.leaf_share("hot_b") - 0.30) <= SHARE_TOLERANCE
    for sample in profile.message.sample:
        labels = profile.labels(sample)
        assert labels["pid"] == workload.pid
        assert labels["tid"] == workload.pid
        assert labels["thread_name"] == "two_functions"
        assert sample.value[1] == sample.value[0] * profile.message.period
    # The workload's own mapping carries its build id, and its functions have files and lines.
    mapping = next(m for m in profile.mappings.values() if profile.s(m.filename).endswith("/two_functions"))
    notes = subprocess.run(["readelf", "-n", two_functions], capture_output=True, text=True).stdout
    assert profile.s(mapping.build_id) and f"Build ID: {profile.s(mapping.build_id)}" in notes
    hot_a = next(f for f in profile.functions.values() if profile.s(f.name) == "hot_a")
    assert profile.s(hot_a.filename).endswith("two_functions.c")
    assert hot_a.start_line > 0
    top = subprocess.run([go_tool, "tool", "pprof", "-top", out], capture_output=True, text=True, timeout=120)
    assert top.returncode == 0, top.stderr
    assert "hot_a" in top.stdout and "hot_b" in top.stdout


def test_record_follows_children(profkit_bin, root, two_functions, tmp_path):
    """A shell that runs the real work in child processes: the children are profiled too."""
    out = tmp_path / "children.txt"
    result = record(profkit_bin, "--rate", TEST_RATE, "--format", "collapsed", "--output", out, "--",
                    "sh", "-c", f"{two_functions} 2; {two_functions} 1")
    total, shares = leaf_shares(collapsed_counts(out.read_text()))
    assert_sample_count(total, cpu_seconds(result.stdout), TEST_RATE)
    assert abs(shares.get("hot_a", 0) - 0.70) <= SHARE_TOLERANCE, shares


def test_record_deleted_binary_still_symbolizes(profkit_bin, root, two_functions, tmp_path):
    """An upgrade replaced the binary under a running process: symbols come via /proc/PID/map_files."""
    copy = tmp_path / "replaced_app"
    copy.write_bytes(two_functions.read_bytes())
    copy.chmod(0o755)
    workload = subprocess.Popen([copy, "30"], stdout=subprocess.DEVNULL)
    try:
        copy.unlink()
        out = tmp_path / "deleted.txt"
        record(profkit_bin, "--pid", workload.pid, "--rate", TEST_RATE, "--duration", "2",
               "--format", "collapsed", "--output", out)
    finally:
        workload.kill()
        workload.wait()
    total, shares = leaf_shares(collapsed_counts(out.read_text()))
    assert total > 0
    assert abs(shares.get("hot_a", 0) - 0.70) <= SHARE_TOLERANCE, shares


def test_record_labels_threads(profkit_bin, root, two_functions, tmp_path, read_pprof):
    """Samples of a named worker thread carry its own tid and name, under the process's pid."""
    out = tmp_path / "threads.pprof"
    result = record(profkit_bin, "--rate", TEST_RATE, "--output", out, "--", two_functions, "3", "thread")
    profile = read_pprof(out.read_bytes())
    assert_sample_count(profile.total(), cpu_seconds(result.stdout), TEST_RATE)
    worker = [s for s in profile.message.sample if profile.labels(s)["thread_name"] == "hot-worker"]
    assert sum(s.value[0] for s in worker) >= 0.9 * profile.total()
    pids = {profile.labels(s)["pid"] for s in worker}
    tids = {profile.labels(s)["tid"] for s in worker}
    assert len(pids) == 1 and len(tids) == 1 and pids != tids, (pids, tids)
    hot = [s for s in worker if profile.frames(s)[0] in ("hot_a", "hot_b")]
    assert all(profile.frames(s)[1:3] == ["run_user", "worker_main"] for s in hot)
    assert abs(profile.leaf_share("hot_a") - 0.70) <= SHARE_TOLERANCE
