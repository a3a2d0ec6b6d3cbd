#!/usr/bin/python3
"""Side-by-side overhead of profkit, perf and bpftrace on a CPU-bound workload.

Started by overhead.sh (root check, package installation). Every configuration runs
the same workload in interleaved rounds; each profiler is proven to be sampling
before the workload starts, and everything started here is stopped on exit,
including Ctrl-C and SIGTERM.
"""

import argparse
import os
import platform
import re
import select
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORKLOAD_SOURCE = BENCH_DIR / "workloads" / "cpu_bound.c"

# The whole run must end within 10 minutes; the rest of the budget is left for
# stopping the last profiler and printing.
TOTAL_DEADLINE_S = 540.0
# A profiler that is not sampling by then is broken, not slow (bpftrace and
# profkit load in 1-3 s here).
READY_TIMEOUT_S = 30.0
# profkit promises to exit within 5 s of SIGTERM; perf and bpftrace write their
# output on exit. After this the process is killed and the overrun reported.
STOP_TIMEOUT_S = 10.0
# A workload run taking this many times the warm-up run is treated as hung.
WORKLOAD_TIMEOUT_FACTOR = 4.0
# Estimated start + stop time of one profiled run, used to check the plan fits
# the deadline before starting.
PER_RUN_OVERHEAD_S = 4.0
# Lines of a profiler's log quoted when it fails.
LOG_TAIL_LINES = 20
# A profiler's output kept per run; beyond it the output is still drained but
# dropped (and the drop noted in the log), so a log storm cannot fill /tmp.
MAX_LOG_BYTES = 16 << 20
# Longest line read at once, so output without newlines cannot exhaust memory.
MAX_LINE_BYTES = 64 << 10

PROFKIT_READY_MARKER = "sampling started"
# bpftrace prints "Attaching N probes..." just before attaching; the BPF run count
# check that follows proves the attach worked.
BPFTRACE_READY_MARKER = "Attaching "
BPF_PROG_TYPE_PERF_EVENT = 7
BPF_STATS_SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")

ALL_CONFIGS = ("baseline", "profkit", "perf", "bpftrace")


class BenchError(Exception):
    """A failure that ends the benchmark with a clear message."""


class Interrupted(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived."""


def on_signal(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


@dataclass
class RunResult:
    workload_s: float
    # Wall time minus run-queue wait: what the workload itself used, immune to
    # other tasks competing for its CPU. None without schedstats.
    on_cpu_s: float | None
    cpu_pct: float | None = None
    rss_mb: float | None = None
    bpf_pct: float | None = None
    bpf_ns_per_run: float | None = None
    stop_s: float | None = None


@dataclass
class Config:
    name: str
    runs: list[RunResult] = field(default_factory=list)
    skipped: str | None = None


class LogPump(threading.Thread):
    """Copies a child's merged stdout/stderr to a file and spots a ready line.

    The pipe must be drained for the whole life of the child, or a chatty
    profiler blocks on write and stops sampling.
    """

    def __init__(self, stream, log_path: Path, marker: str | None):
        super().__init__(daemon=True)
        self.stream = stream
        self.log_path = log_path
        self.marker = marker
        self.ready = threading.Event()

    def run(self):
        written = 0
        marker = self.marker.encode() if self.marker else None
        with open(self.log_path, "wb") as log:
            while line := self.stream.readline(MAX_LINE_BYTES):
                if marker and marker in line:
                    self.ready.set()
                if written < MAX_LOG_BYTES:
                    log.write(line)
                    written += len(line)
                    if written >= MAX_LOG_BYTES:
                        log.write(b"\n[overhead: log truncated at MAX_LOG_BYTES]\n")
                    log.flush()

    def tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"


class Profiler:
    """One running profiler process in its own session."""

    def __init__(self, name: str, argv: list[str], log_path: Path, marker: str | None):
        self.name = name
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.pump = LogPump(self.proc.stdout, log_path, marker)
        self.pump.start()
        self.perf_ctl_fd: int | None = None
        self.perf_ack_fd: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def fail(self, what: str) -> BenchError:
        return BenchError(f"{self.name}: {what}; last output:\n{self.pump.tail()}")

    def wait_for_marker(self, deadline: float):
        while not self.pump.ready.wait(timeout=0.05):
            if self.proc.poll() is not None:
                raise self.fail(f"exited with status {self.proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise self.fail(f"no '{self.pump.marker}' line within {READY_TIMEOUT_S:.0f} s")

    def wait_for_bpf_samples(self, deadline: float):
        """Ready means a perf_event BPF program of this process has run."""
        while True:
            if self.proc.poll() is not None:
                raise self.fail(f"exited with status {self.proc.returncode} before it was ready")
            _, runs = bpf_stats(self.pid)
            if runs > 0:
                return
            if time.monotonic() > deadline:
                raise self.fail(f"its perf_event BPF programs did not run within "
                                f"{READY_TIMEOUT_S:.0f} s")
            time.sleep(0.02)

    def enable_perf(self, deadline: float):
        """perf starts with events disabled; 'enable' is acknowledged once they are on."""
        os.write(self.perf_ctl_fd, b"enable\n")
        reply = b""
        while b"\n" not in reply:
            if self.proc.poll() is not None:
                raise self.fail(f"exited with status {self.proc.returncode} before it was ready")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.fail(f"no ack on its control fifo within {READY_TIMEOUT_S:.0f} s")
            readable, _, _ = select.select([self.perf_ack_fd], [], [], min(remaining, 0.1))
            if readable:
                reply += os.read(self.perf_ack_fd, 64)
        # perf sends the tag with its terminating NUL: "ack\n\0".
        if reply.strip(b"\0\n ") != b"ack":
            raise self.fail(f"unexpected control reply {reply!r}")

    def stop(self, sig: int) -> tuple[float, bool]:
        """Asks the profiler to stop, killing it after STOP_TIMEOUT_S.

        Returns the seconds it took and whether it had to be killed.
        """
        start = time.monotonic()
        killed = False
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sig)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait()
                killed = True
        self.pump.join(timeout=STOP_TIMEOUT_S)
        for fd in (self.perf_ctl_fd, self.perf_ack_fd):
            if fd is not None:
                os.close(fd)
        self.perf_ctl_fd = self.perf_ack_fd = None
        return time.monotonic() - start, killed


def proc_cpu_seconds(pid: int) -> float:
    """CPU time of the thread group, from per-thread schedstat (nanoseconds).

    utime + stime in /proc/PID/stat come in clock ticks: 10 ms, i.e. 0.2% of a
    core over a 5 s run, too coarse for a 1% goal. Threads that exit inside the
    window are missed; the profilers measured here keep theirs.
    """
    total_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total_ns += int(task.joinpath("schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # the thread exited while we listed the directory
    return total_ns / 1e9


def proc_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise BenchError(f"no VmHWM in /proc/{pid}/status")


def bpf_stats(pid: int) -> tuple[int, int]:
    """(run_time_ns, run_cnt) summed over the perf_event BPF programs pid holds open.

    The kernel charges BPF program time to whatever task was interrupted, so it is
    invisible in the profiler's own utime/stime; kernel.bpf_stats_enabled makes it
    visible in the program's fdinfo.
    """
    seen: dict[int, tuple[int, int]] = {}
    try:
        entries = list(Path(f"/proc/{pid}/fdinfo").iterdir())
    except OSError:
        return 0, 0  # exited; callers check the process status
    for entry in entries:
        try:
            text = entry.read_text()
        except OSError:
            continue  # the fd was closed while we listed the directory
        if "prog_type:" not in text:
            continue
        info = dict(re.findall(r"^(\w+):\s+(\d+)$", text, re.MULTILINE))
        if info.get("prog_type") != str(BPF_PROG_TYPE_PERF_EVENT) or "prog_id" not in info:
            continue
        seen[int(info["prog_id"])] = (int(info.get("run_time_ns", 0)),
                                      int(info.get("run_cnt", 0)))
    return sum(t for t, _ in seen.values()), sum(c for _, c in seen.values())


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, args, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.start = time.monotonic()
        self.live: list[Profiler] = []
        self.workload: subprocess.Popen | None = None
        self.workload_bin = workdir / "cpu_bound"
        self.workload_timeout = 0.0
        self.warnings: list[str] = []

    # --- workload -------------------------------------------------------------

    def compile_workload(self):
        cmd = ["gcc", "-O2", "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-o",
               str(self.workload_bin), str(WORKLOAD_SOURCE)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"compiling the workload failed:\n{done.stderr}")

    def run_workload(self, timeout: float) -> tuple[float, float | None]:
        """Returns (elapsed, elapsed minus run-queue wait) in seconds."""
        cmd = ["taskset", "-c", str(self.args.cpu), str(self.workload_bin)]
        if self.args.work_units:
            cmd.append(str(self.args.work_units))
        self.workload = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, start_new_session=True)
        try:
            out, err = self.workload.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"workload did not finish within {timeout:.0f} s")
        finally:
            if self.workload.poll() is None:
                self.workload.kill()
                self.workload.wait()
        code = self.workload.returncode
        self.workload = None
        match = re.search(r"elapsed_s=([0-9.]+) run_delay_s=(-?[0-9.]+)", out)
        if code != 0 or not match:
            raise BenchError(f"workload failed (status {code}): {out.strip()} {err.strip()}")
        elapsed, delay = float(match.group(1)), float(match.group(2))
        return elapsed, (elapsed - delay if delay >= 0 else None)

    # --- profilers ------------------------------------------------------------

    def start_profiler(self, name: str, run_id: str) -> Profiler:
        log = self.workdir / f"{run_id}.log"
        deadline = time.monotonic() + READY_TIMEOUT_S
        hz = str(self.args.frequency)
        if name == "profkit":
            conf = self.workdir / f"{run_id}.toml"
            conf.write_text(
                "[http]\n"
                f'listen = "127.0.0.1:{free_loopback_port()}"\n'
                "[local]\n"
                f'dir = "{self.workdir / (run_id + "-profiles")}"\n'
                "[ebpf]\n"
                f"sample_rate = {self.args.frequency}\n"
                f'upload_interval = "{self.args.upload_interval}"\n')
            prof = Profiler(name, [self.args.profkit, "run", "--config", str(conf)], log,
                            PROFKIT_READY_MARKER)
            self.live.append(prof)
            prof.wait_for_marker(deadline)
            prof.wait_for_bpf_samples(deadline)
        elif name == "perf":
            ctl, ack = self.workdir / f"{run_id}.ctl", self.workdir / f"{run_id}.ack"
            os.mkfifo(ctl)
            os.mkfifo(ack)
            # O_RDWR on a fifo never blocks, so a perf that dies early cannot hang us.
            ctl_fd, ack_fd = os.open(ctl, os.O_RDWR), os.open(ack, os.O_RDWR)
            argv = ["perf", "record", "-F", hz, "-g", "-a", "-D", "-1",
                    "--control", f"fifo:{ctl},{ack}", "-o", str(self.workdir / f"{run_id}.data")]
            try:
                prof = Profiler(name, argv, log, None)
            except BaseException:
                os.close(ctl_fd)
                os.close(ack_fd)
                raise
            prof.perf_ctl_fd, prof.perf_ack_fd = ctl_fd, ack_fd
            self.live.append(prof)
            prof.enable_perf(deadline)
        elif name == "bpftrace":
            # END clears the map so exit does not symbolize every stack on the host
            # (tens of seconds on a busy machine); sampling is unchanged.
            argv = ["bpftrace", "-e",
                    f"profile:hz:{hz} {{ @[ustack] = count(); }} END {{ clear(@); }}"]
            prof = Profiler(name, argv, log, BPFTRACE_READY_MARKER)
            self.live.append(prof)
            prof.wait_for_marker(deadline)
            prof.wait_for_bpf_samples(deadline)
        else:
            raise AssertionError(name)
        return prof

    def stop_profiler(self, prof: Profiler) -> float:
        # perf and bpftrace finish cleanly on SIGINT; SIGTERM is profkit's contract.
        sig = signal.SIGTERM if prof.name == "profkit" else signal.SIGINT
        took, killed = prof.stop(sig)
        self.live.remove(prof)
        if killed:
            # Reported, not fatal: the measurement itself is complete.
            self.warnings.append(f"{prof.name} ignored {signal.Signals(sig).name} for "
                                 f"{STOP_TIMEOUT_S:.0f} s and was killed")
        elif prof.proc.returncode not in (0, -sig):
            raise prof.fail(f"exited with status {prof.proc.returncode} on "
                            f"{signal.Signals(sig).name}")
        return took

    def measured_run(self, name: str, run_id: str) -> RunResult:
        if name == "baseline":
            return RunResult(*self.run_workload(self.workload_timeout))
        prof = self.start_profiler(name, run_id)
        try:
            cpu0, bpf0, wall0 = proc_cpu_seconds(prof.pid), bpf_stats(prof.pid), time.monotonic()
            workload_s, on_cpu_s = self.run_workload(self.workload_timeout)
            cpu1, bpf1, wall1 = proc_cpu_seconds(prof.pid), bpf_stats(prof.pid), time.monotonic()
            rss = proc_hwm_mb(prof.pid)
            if prof.proc.poll() is not None:
                raise prof.fail(f"exited with status {prof.proc.returncode} during the workload")
        finally:
            stop_s = self.stop_profiler(prof)
        wall = wall1 - wall0
        result = RunResult(workload_s, on_cpu_s, cpu_pct=100.0 * (cpu1 - cpu0) / wall, rss_mb=rss,
                           stop_s=stop_s)
        if name != "perf":
            runs = bpf1[1] - bpf0[1]
            result.bpf_pct = 100.0 * (bpf1[0] - bpf0[0]) / 1e9 / wall
            result.bpf_ns_per_run = (bpf1[0] - bpf0[0]) / runs if runs else None
        return result

    # --- plan -----------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def run(self) -> list[Config]:
        configs = [Config(n) for n in self.args.configs]
        for c in configs:
            if c.name == "profkit" and not os.access(self.args.profkit, os.X_OK):
                c.skipped = f"no executable at {self.args.profkit}"
        active = [c for c in configs if not c.skipped]

        self.compile_workload()
        self.workload_timeout = 600.0
        warmup, _ = self.run_workload(self.workload_timeout)
        self.workload_timeout = max(10.0, warmup * WORKLOAD_TIMEOUT_FACTOR)
        planned = self.args.rounds * sum(
            warmup + (0 if c.name == "baseline" else PER_RUN_OVERHEAD_S) for c in active)
        if self.elapsed() + planned > TOTAL_DEADLINE_S:
            raise BenchError(
                f"the plan needs about {planned:.0f} s (warm-up run took {warmup:.1f} s) but the "
                f"budget is {TOTAL_DEADLINE_S:.0f} s: lower --rounds or --work-units")
        print(f"warm-up run: {warmup:.2f} s; about {planned:.0f} s to go", file=sys.stderr)

        for r in range(self.args.rounds):
            # Rotating the order each round keeps drift (thermal, neighbours) from
            # always landing on the same configuration.
            order = active[r % len(active):] + active[:r % len(active)]
            for c in order:
                if self.elapsed() + self.workload_timeout > TOTAL_DEADLINE_S:
                    raise BenchError("time budget exhausted; results so far are incomplete")
                res = self.measured_run(c.name, f"r{r}-{c.name}")
                c.runs.append(res)
                print(f"round {r + 1}/{self.args.rounds} {c.name:9s} {res.workload_s:.3f} s",
                      file=sys.stderr)
        return configs

    def cleanup(self):
        if self.workload is not None and self.workload.poll() is None:
            self.workload.kill()
            self.workload.wait()
        for prof in list(self.live):
            sig = signal.SIGTERM if prof.name == "profkit" else signal.SIGINT
            prof.stop(sig)
            self.live.remove(prof)


def fmt_opt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def median_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(values: list[float]) -> tuple[float, str]:
    """Median and spread, the spread as min–max and half-range in % of the median."""
    med = statistics.median(values)
    half_range = 50 * (max(values) - min(values)) / med
    return med, f"{min(values):.3f}–{max(values):.3f} (±{half_range:.1f}%)"


def slowdown(med: float | None, base: float | None, is_baseline: bool) -> str:
    if is_baseline or med is None or not base:
        return "—"
    return f"{100 * (med / base - 1):+.2f}%"


def report(configs: list[Config], args, invocation: str, warnings: list[str]) -> str:
    base = next((c for c in configs if c.name == "baseline" and c.runs), None)
    base_wall = statistics.median(r.workload_s for r in base.runs) if base else None
    base_cpu = median_of([r.on_cpu_s for r in base.runs]) if base else None
    lines = [
        "| profiler | workload median s | spread (min–max, ±half-range) | slowdown | "
        "on-CPU median s | slowdown on-CPU | profiler CPU % of a core | "
        "BPF CPU % of a core (ns/sample) | profiler max RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in configs:
        if c.skipped:
            lines.append(f"| {c.name} | skipped: {c.skipped} | | | | | | | |")
            continue
        if not c.runs:
            continue
        is_base = c.name == "baseline"
        wall, spread = summarize([r.workload_s for r in c.runs])
        on_cpu = median_of([r.on_cpu_s for r in c.runs])
        bpf_pct = median_of([r.bpf_pct for r in c.runs])
        bpf_ns = median_of([r.bpf_ns_per_run for r in c.runs])
        bpf = "—" if bpf_pct is None else f"{bpf_pct:.3f} ({fmt_opt(bpf_ns, '.0f')})"
        rss = max((r.rss_mb for r in c.runs if r.rss_mb is not None), default=None)
        lines.append(
            f"| {c.name} | {wall:.3f} | {spread} | {slowdown(wall, base_wall, is_base)} | "
            f"{fmt_opt(on_cpu, '.3f')} | {slowdown(on_cpu, base_cpu, is_base)} | "
            f"{fmt_opt(median_of([r.cpu_pct for r in c.runs]), '.2f')} | {bpf} | "
            f"{fmt_opt(rss, '.1f')} |")

    cpu_model = next((l.split(":", 1)[1].strip() for l in
                      Path("/proc/cpuinfo").read_text().splitlines()
                      if l.startswith("model name")), "unknown")
    out = ["", f"Machine: Linux {platform.release()}, {cpu_model}, nproc={os.cpu_count()}",
           f"Versions: {tool_versions(args)}",
           f"Command: `{invocation}`",
           f"Workload pinned to CPU {args.cpu}; {args.rounds} rounds, order rotated each round; "
           f"{args.frequency} Hz; profkit upload_interval {args.upload_interval}.",
           "", *lines, "", "Per run, workload wall s / on-CPU s:", ""]
    for c in configs:
        if c.runs:
            out.append(f"- {c.name}: " + ", ".join(
                f"{r.workload_s:.3f}/{fmt_opt(r.on_cpu_s, '.3f')}" for r in c.runs))
    stops = [f"{c.name} {max(r.stop_s for r in c.runs):.1f} s" for c in configs
             if c.runs and c.runs[0].stop_s is not None]
    if stops:
        out.append(f"- longest stop after its signal: {', '.join(stops)}")
    out.extend(f"- warning: {w}" for w in warnings)
    return "\n".join(out)


def tool_versions(args) -> str:
    parts = []
    for name, cmd in (("perf", ["perf", "--version"]), ("bpftrace", ["bpftrace", "--version"]),
                      ("profkit", [args.profkit, "--version"])):
        if name not in args.configs:
            continue
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            text = (done.stdout or done.stderr).strip().splitlines()
            parts.append(text[0] if text and done.returncode == 0 else f"{name} (unknown)")
        except (OSError, subprocess.TimeoutExpired):
            parts.append(f"{name} (unavailable)")
    return "; ".join(parts) or "—"


def parse_args():
    p = argparse.ArgumentParser(prog="overhead.sh", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--frequency", type=int, default=99, help="sampling Hz per CPU (default 99)")
    p.add_argument("--configs", default=",".join(ALL_CONFIGS),
                   help=f"comma-separated subset of {','.join(ALL_CONFIGS)}")
    p.add_argument("--profkit", default=str(REPO_DIR / "build" / "profkit"),
                   help="profkit binary (default: <repo>/build/profkit; skipped if missing)")
    p.add_argument("--upload-interval", default="5s",
                   help="profkit ebpf.upload_interval (default 5s: one flush inside each run)")
    p.add_argument("--work-units", type=int, default=0,
                   help="workload size (default: the workload's own, ~5 s on the reference VM)")
    p.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1,
                   help="CPU the workload is pinned to (default: the last one)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, data)")
    args = p.parse_args()
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = set(args.configs) - set(ALL_CONFIGS)
    if unknown:
        p.error(f"unknown configuration(s): {', '.join(sorted(unknown))}")
    if "baseline" not in args.configs:
        p.error("the baseline configuration is required: slowdowns are relative to it")
    if not 1 <= args.rounds <= 20:
        p.error("--rounds must be in 1..20")
    if args.work_units and not 1 <= args.work_units <= 1_000_000:
        p.error("--work-units must be in 1..1000000")
    if not 1 <= args.frequency <= 1000:
        p.error("--frequency must be in 1..1000")
    if args.cpu not in os.sched_getaffinity(0):
        p.error(f"--cpu {args.cpu} is not available to this process")
    if not re.fullmatch(r"[0-9]+(ms|s|m)", args.upload_interval):
        p.error("--upload-interval must look like 500ms, 5s or 1m")
    return args


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("overhead: must run as root (perf -a, BPF)", file=sys.stderr)
        return 1
    invocation = os.environ.get("PROFKIT_BENCH_INVOCATION") or shlex.join(sys.argv)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    workdir = Path(tempfile.mkdtemp(prefix="profkit-overhead-"))
    bench = Bench(args, workdir)
    stats_before = BPF_STATS_SYSCTL.read_text().strip()
    try:
        # On for every configuration alike, so its few ns per program run cancel out.
        BPF_STATS_SYSCTL.write_text("1\n")
        configs = bench.run()
        print(report(configs, args, invocation, bench.warnings))
        return 0
    except BenchError as e:
        print(f"overhead: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(f"overhead: interrupted by {e}; cleaning up", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C must not abandon profilers half-stopped.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        bench.cleanup()
        BPF_STATS_SYSCTL.write_text(stats_before + "\n")
        if args.keep:
            print(f"overhead: work directory kept at {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
