"""Hostile processes (issue 15, root + BPF): one `profkit run` runs through every scenario while a
well-behaved reference process (tests/workloads/two_functions, 70% hot_a / 30% hot_b) runs beside
it. After each scenario: the agent is still running, the reference's profiles written during the
scenario have all its samples (against its CPU time) with the known split, and the agent's peak RSS
is under AGENT_RSS_BOUND_MIB, the bound the README's Security section states.

Scenarios (workloads in tests/workloads/hostile/, corruptions in elf_lies.py):
- processes executing code inside files whose section headers lie, and whose CFI or DWARF is junk;
- CPython processes whose frame chain loops, points at unmapped memory or at junk;
- one PID reused by two different binaries in turn, 50 ms each, while their frames are symbolized;
- a process with 10,000 threads;
- a storm of short-lived processes (target 2,000 a second for 30 s; the rate reached is printed).
"""
import collections
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, TEST_RATE, Agent, assert_sample_count, located_frames, require
import elf_lies

WORKLOADS = REPO / "tests/workloads/hostile"
REFERENCE_SERVICE = "hostile-reference"
SHARE_TOLERANCE = 0.05
# The agent's peak RSS through all of this (README, Security: "Limits"): three quarters of the
# DaemonSet's 1 GiB memory limit. Measured 360-449 MiB at the end of six runs on the 2-core CI
# host with other C++ builds running; most of it comes from the host's other programs (their
# mapped files, unwind tables).
AGENT_RSS_BOUND_MIB = 768
# Reference samples below which its split says nothing (the hostile processes take most CPU).
MIN_REFERENCE_SAMPLES = 200
UPLOAD_INTERVAL_S = 2
STORM_RATE = 2000
STORM_SECONDS = 30
STORM_SPAWNERS = 2  # one spawner per CPU: a single one tops out near 1,000 a second here
SWARM_THREADS = 10_000
PYTHONS = ("/usr/bin/python3", "/root/.pyenv/versions/3.12.1/bin/python3")


def compile_c(out, source, *flags):
    cc = shutil.which("cc") or shutil.which("gcc")
    require(cc is not None, "needs a C compiler")
    subprocess.run([cc, *flags, "-o", out, source], check=True)
    return out


@pytest.fixture(scope="module")
def hostile_bins(workdir):
    out = workdir / "hostile"
    out.mkdir(exist_ok=True)
    w = WORKLOADS
    return {
        "spin": compile_c(out / "spin_target", w / "spin_target.c", "-O2", "-g"),
        "swarm": compile_c(out / "thread_swarm", w / "thread_swarm.c", "-O2", "-pthread"),
        "storm": compile_c(out / "spawn_storm", w / "spawn_storm.c", "-O2"),
        "storm_child": compile_c(out / "storm_child", w / "storm_child.c", "-O2", "-static"),
        "pid_reuse": compile_c(out / "pid_reuse", w / "pid_reuse.c", "-O2"),
        # Not PIE: both load at the same address, so an address of one looked up with the
        # other's mappings lands in the other's code and gets a wrong name, which the test sees.
        "alpha": compile_c(out / "reuse_alpha", w / "reuse_program.c", "-O2", "-g", "-fno-pie", "-no-pie",
                           "-DHOT=reuse_alpha_hot"),
        "beta": compile_c(out / "reuse_beta", w / "reuse_program.c", "-O2", "-g", "-fno-pie", "-no-pie",
                          "-DHOT=reuse_beta_hot", "-DPADDING"),
    }


class Watch:
    """Polls the reference's CPU time and the agent's RSS every 50 ms (wall-clock timestamps, as
    in the profiles), so a profile's sample count can be checked against the CPU time its
    interval saw."""

    def __init__(self, reference_pid, agent_pid):
        self.reference_pid, self.agent_pid = reference_pid, agent_pid
        self.cpu = []  # (time ns, CPU seconds)
        self.max_rss_kib = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        ticks = os.sysconf("SC_CLK_TCK")
        while not self.stopped.wait(0.05):  # polling /proc: there is no event to wait on
            try:
                fields = Path(f"/proc/{self.reference_pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.cpu.append((time.time_ns(), (int(fields[11]) + int(fields[12])) / ticks))
                self.max_rss_kib = max(self.max_rss_kib, status_kib(self.agent_pid, "VmRSS"))
            except (FileNotFoundError, ProcessLookupError):
                return

    def cpu_at(self, when_ns):
        points = [(t, c) for t, c in self.cpu if t <= when_ns]
        assert points, "no CPU reading that early"
        return points[-1][1]

    def stop(self):
        self.stopped.set()
        self.thread.join()


def status_kib(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


class HostileRun:
    def __init__(self, agent, reference, local_dir, read_pprof, watch):
        self.agent, self.reference, self.local_dir = agent, reference, local_dir
        self.read_pprof, self.watch = read_pprof, watch

    def profiles(self, service):
        """(start ns, end ns, Pprof) of every profile written for `service`, oldest first."""
        out = []
        for path in sorted((self.local_dir / service).glob("*.pprof")):
            profile = self.read_pprof(path.read_bytes())
            start = profile.message.time_nanos
            out.append((start, start + profile.message.duration_nanos, profile))
        return out

    def wait_for_profiles(self, service, until_ns, timeout=30):
        """The profiles of `service` once one ending at or after `until_ns` is written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_alive()
            profiles = self.profiles(service)
            if profiles and profiles[-1][1] >= until_ns:
                return profiles
            time.sleep(0.2)  # polling a directory: there is no event to wait on
        raise AssertionError(f"no profile of {service} reached {until_ns}:\n{self.agent.text()[-3000:]}")

    def finished_profiles(self, service):
        """The profiles of a service whose processes have exited: read once the interval after
        the last reference profile seen has been written too, so every file of that flush is."""
        self.wait_for_profiles(REFERENCE_SERVICE, self.flushed_ns + UPLOAD_INTERVAL_S * 10**9)
        profiles = self.profiles(service)
        assert profiles, f"no profile of {service}"
        return profiles

    def assert_alive(self):
        assert self.agent.proc.poll() is None, \
            f"agent exited ({self.agent.proc.returncode}):\n{self.agent.text()[-5000:]}"

    def check(self, began_ns, ended_ns):
        """After a scenario: agent alive, the reference's profiles of the scenario's intervals
        complete and right, the agent's peak RSS under the bound."""
        profiles = [p for p in self.wait_for_profiles(REFERENCE_SERVICE, ended_ns) if p[1] > began_ns]
        assert profiles, "no reference profile during the scenario"
        self.flushed_ns = profiles[-1][1]
        samples = sum(p.total() for _, _, p in profiles)
        cpu = self.watch.cpu_at(profiles[-1][1]) - self.watch.cpu_at(profiles[0][0])
        assert_sample_count(samples, cpu, TEST_RATE)
        assert samples >= MIN_REFERENCE_SAMPLES, f"{samples} reference samples"
        hot_a = sum(p.leaf_share("hot_a") * p.total() for _, _, p in profiles) / samples
        hot_b = sum(p.leaf_share("hot_b") * p.total() for _, _, p in profiles) / samples
        # ±5 points, or three standard errors of a 70% share when the scenario left the reference
        # too little CPU for 5 points to be more than luck.
        tolerance = max(SHARE_TOLERANCE, 3 * (0.7 * 0.3 / samples) ** 0.5)
        assert abs(hot_a - 0.70) <= tolerance and abs(hot_b - 0.30) <= tolerance, (hot_a, hot_b, samples)
        self.assert_alive()
        peak = status_kib(self.agent.proc.pid, "VmHWM") / 1024
        print(f"reference: {samples} samples, hot_a {hot_a:.3f}; agent peak RSS so far {peak:.0f} MiB")
        assert peak <= AGENT_RSS_BOUND_MIB, f"agent peak RSS {peak:.0f} MiB"

    def run_scenario(self, launch):
        """Runs launch() (which returns when the hostile processes are done) between two checks."""
        began = time.time_ns()
        result = launch()
        self.check(began, time.time_ns())
        return result


@pytest.fixture(scope="module")
def hostile(profkit_bin, root, two_functions, read_pprof, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    local_dir = tmp / "profiles"
    config = tmp / "profkit.toml"
    config.write_text(f"""
[dataway]
url = ""
[local]
dir = "{local_dir}"
[ebpf]
sample_rate = {TEST_RATE}
upload_interval = "{UPLOAD_INTERVAL_S}s"
""")
    agent = Agent(profkit_bin, config, tmp / "agent.log")
    reference = None
    try:
        agent.wait_for_log("eBPF sampling started", timeout=60)
        reference = subprocess.Popen([two_functions, "3600"], stdout=subprocess.DEVNULL,
                                     env=dict(os.environ, DD_SERVICE=REFERENCE_SERVICE))
        watch = Watch(reference.pid, agent.proc.pid)
        run = HostileRun(agent, reference, local_dir, read_pprof, watch)
        run.wait_for_profiles(REFERENCE_SERVICE, time.time_ns() + UPLOAD_INTERVAL_S * 10**9)
        yield run
        watch.stop()
        run.assert_alive()
        assert agent.stop(timeout=10) == 0, agent.text()[-3000:]
    finally:
        if reference is not None:
            reference.kill()
            reference.wait()
        agent.kill()


def run_reaped(argv, service, **kwargs):
    """Starts argv with DD_SERVICE=service; returns (Popen, waiter) where waiter() waits and gives
    (returncode, CPU seconds of the process from wait4)."""
    proc = subprocess.Popen(argv, env=dict(os.environ, DD_SERVICE=service), **kwargs)

    def wait():
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return proc.returncode, usage.ru_utime + usage.ru_stime

    return proc, wait


def run_lying_binaries(hostile_bins, workdir, lies, seconds):
    """Runs one corrupted copy of spin_target per lie, all at once; {lie name: CPU seconds}."""
    spin = hostile_bins["spin"].read_bytes()
    running = []
    for lie in lies:
        path = workdir / "hostile" / f"lie_{lie.__name__}"
        path.write_bytes(elf_lies.corrupt(spin, lie))
        path.chmod(0o755)
        running.append((lie.__name__, run_reaped([path, str(seconds)], f"hostile-{lie.__name__}")))
    out = {}
    for name, (_, wait) in running:
        code, cpu = wait()
        assert code == 0, f"{name} exited {code}"
        out[name] = cpu
    return out


def check_lying_profiles(hostile, cpu_by_lie):
    """Every corrupted process was profiled, all of them completely (one check over their summed
    CPU time: one process's 0.2 s is too few samples for the ±10% of assert_sample_count);
    returns {name: hostile_hot leaf share}."""
    shares = {}
    all_samples = 0
    for name in cpu_by_lie:
        profiles = hostile.finished_profiles(f"hostile-{name}")
        total = sum(p.total() for _, _, p in profiles)
        assert total > 0, f"{name}: no samples"
        all_samples += total
        shares[name] = sum(p.leaf_share("hostile_hot") * p.total() for _, _, p in profiles) / total
    assert_sample_count(all_samples, sum(cpu_by_lie.values()), TEST_RATE)
    return shares


def test_code_in_files_whose_section_headers_lie(hostile, hostile_bins, workdir):
    cpu = hostile.run_scenario(
        lambda: run_lying_binaries(hostile_bins, workdir, elf_lies.SECTION_HEADER_LIES, seconds=2))
    shares = check_lying_profiles(hostile, cpu)
    print("hostile_hot leaf share per lie:", {k: round(v, 2) for k, v in shares.items()})


def test_code_in_files_whose_cfi_and_dwarf_are_junk(hostile, hostile_bins, workdir):
    cpu = hostile.run_scenario(
        lambda: run_lying_binaries(hostile_bins, workdir, elf_lies.CFI_AND_DWARF_LIES, seconds=2))
    shares = check_lying_profiles(hostile, cpu)
    # The section headers and .symtab are intact: the leaf is named whatever the CFI and DWARF say.
    for name, share in shares.items():
        assert share >= 0.9, f"{name}: hostile_hot is the leaf of only {share:.0%} of the samples"


def test_python_frame_chains_that_loop_or_point_nowhere(hostile, workdir):
    interpreters = [p for p in PYTHONS if Path(p).exists()]
    require(interpreters, f"needs one of {PYTHONS}")
    script = WORKLOADS / "corrupt_frames.py"

    def launch():
        running = []
        for python in interpreters:
            for mode in ("loop", "unmapped", "garbage"):
                proc, wait = run_reaped([python, script, mode, "2"], f"hostile-py-{mode}", stdout=subprocess.PIPE,
                                        text=True)
                running.append((python, mode, proc, wait))
        for python, mode, proc, wait in running:
            code, _ = wait()
            out = proc.stdout.read()
            assert code == 0 and f"corrupted={mode}" in out, (python, mode, code, out)

    hostile.run_scenario(launch)
    for mode in ("loop", "unmapped", "garbage"):
        profiles = hostile.finished_profiles(f"hostile-py-{mode}")
        total = spun = 0
        for _, _, profile in profiles:
            for sample in profile.message.sample:
                python_names = [f.name for f in located_frames(profile, sample) if f.interpreted and f.filename]
                total += sample.value[0]
                spun += sample.value[0] if python_names[:1] in (["spin"], ["busy"]) else 0
        assert total > 0
        # The frames below the lie are read as far as they are true: the innermost Python frame.
        assert spun / total >= 0.8, f"{mode}: spin/busy innermost in only {spun}/{total} samples"


def leaves_by_program(hostile, service, pid=None):
    """{(thread name, innermost frame): samples} of reuse_alpha and reuse_beta in `service`."""
    leaves = collections.Counter()
    for _, _, profile in hostile.finished_profiles(service):
        for sample in profile.message.sample:
            labels = profile.labels(sample)
            if labels["thread_name"] in ("reuse_alpha", "reuse_beta") and pid in (None, labels["pid"]):
                leaves[(labels["thread_name"], (profile.frames(sample) or ["[none]"])[0])] += sample.value[0]
    return leaves


# The functions only one of the two programs has (reuse_program.c).
OWN_FUNCTIONS = {"reuse_alpha": {"reuse_alpha_hot"}, "reuse_beta": {"reuse_beta_hot", "reuse_padding"}}


def named_shares(leaves):
    """({program: share of its samples whose leaf is its own hot function},
    {program: samples named with a function only the other program has (an address looked up in
    the wrong binary)})."""
    shares, wrong = {}, {}
    for program, other in (("reuse_alpha", "reuse_beta"), ("reuse_beta", "reuse_alpha")):
        samples = sum(n for (name, _), n in leaves.items() if name == program)
        assert samples > 0, leaves
        wrong[program] = sum(n for (name, leaf), n in leaves.items()
                             if name == program and leaf in OWN_FUNCTIONS[other])
        shares[program] = leaves[(program, f"{program}_hot")] / samples
    return shares, wrong


@pytest.fixture(scope="module")
def pid_reuse(hostile, hostile_bins):
    """The same 40 programs of 50 ms each on fresh PIDs, then all on one PID: ({program: named
    share} for fresh PIDs, the same for the reused PID)."""
    rounds = 40

    def run(service, *mode):
        result = subprocess.run([hostile_bins["pid_reuse"], str(rounds), "50", hostile_bins["alpha"],
                                 hostile_bins["beta"], *mode], env=dict(os.environ, DD_SERVICE=service),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"rounds={rounds}" in result.stdout, result.stdout
        return int(result.stdout.split("pid=")[1].split()[0])

    pid = hostile.run_scenario(lambda: (run("hostile-fresh", "fresh"), run("hostile-reuse"))[1])
    fresh = named_shares(leaves_by_program(hostile, "hostile-fresh"))
    reused = named_shares(leaves_by_program(hostile, "hostile-reuse", pid))
    print(f"hot function named (share, samples named wrongly): fresh PIDs {fresh}, "
          f"one reused PID {reused}")
    return fresh, reused


def test_pid_reused_by_another_binary(pid_reuse):
    """The agent survives it, the reference stays right (run_scenario), and on fresh PIDs no
    sample of one binary is named with the other's function."""
    (fresh_shares, fresh_wrong), (reused_shares, _) = pid_reuse
    assert not any(fresh_wrong.values()), fresh_wrong
    assert all(share > 0 for share in reused_shares.values()), reused_shares


# /proc/PID/maps is read when the exec record is processed (and again when an address is outside
# the mappings read); when the reader is behind by more than a 50 ms turn, that PID already runs
# the next program, whose maps do not hold the previous one's addresses, or hold other code at
# them: both programs are non-PIE at 0x400000 (not fixed: the exec record would need the task's
# start time, checked against /proc/PID/stat's, to refuse the next process's maps).
@pytest.mark.xfail(strict=False, reason="issue 15 finding: after the other scenarios, 3-25% of the "
                   "samples of a PID reused every 50 ms lose their names ([unknown]) against 2-5% on "
                   "fresh PIDs, and up to 2.5% are named from the other program's maps")
def test_pid_reuse_costs_no_names(pid_reuse):
    # The rest are samples of exec, ld.so and [unknown] (a process whose maps were not read yet):
    # reusing the PID must not cost more names than running on fresh ones, nor name any wrongly.
    (fresh, _), (reused, wrong) = pid_reuse
    assert not any(wrong.values()), wrong
    for program in reused:
        assert reused[program] >= fresh[program] - 0.10, (fresh, reused)


def test_process_with_10000_threads(hostile, hostile_bins):
    def launch():
        proc, wait = run_reaped([hostile_bins["swarm"], str(SWARM_THREADS), "5"], "hostile-threads",
                                stdout=subprocess.PIPE, text=True)
        code, cpu = wait()
        out = proc.stdout.read()
        assert code == 0 and f"started={SWARM_THREADS}" in out, (code, out)
        return cpu

    cpu = hostile.run_scenario(launch)
    tids = set()
    work = total = 0
    for _, _, profile in hostile.finished_profiles("hostile-threads"):
        for sample in profile.message.sample:
            tids.add(profile.labels(sample)["tid"])
            total += sample.value[0]
            work += sample.value[0] if profile.frames(sample)[:1] == ["swarm_work"] else 0
    print(f"{len(tids)} distinct threads sampled, swarm_work leaf share {work / total:.2f}")
    assert_sample_count(total, cpu, TEST_RATE)
    assert len(tids) >= 1000, len(tids)
    assert work / total >= 0.5, f"swarm_work is the leaf of {work}/{total} samples"


def test_storm_of_short_lived_processes(hostile, hostile_bins):
    def launch():
        storms = [subprocess.Popen([hostile_bins["storm"], str(STORM_RATE // STORM_SPAWNERS), str(STORM_SECONDS),
                                    hostile_bins["storm_child"]], stdout=subprocess.PIPE, text=True,
                                   env=dict(os.environ, DD_SERVICE="hostile-storm"))
                  for _ in range(STORM_SPAWNERS)]
        spawned = seconds = 0.0
        for storm in storms:
            out, _ = storm.communicate(timeout=STORM_SECONDS + 60)
            assert storm.returncode == 0, out
            fields = dict(field.split("=") for field in out.split())
            spawned += int(fields["spawned"])
            seconds = max(seconds, float(fields["seconds"]))
        return spawned / seconds

    rate = hostile.run_scenario(launch)
    print(f"spawn storm: {rate:.0f} processes a second for {STORM_SECONDS} s (target {STORM_RATE})")
    profiles = hostile.finished_profiles("hostile-storm")
    assert sum(p.total() for _, _, p in profiles) > 0
