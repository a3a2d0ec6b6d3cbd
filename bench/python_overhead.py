#!/usr/bin/python3
"""What profiling Python processes costs: BPF time per sample by Python stack depth, and the
slowdown of a CPU-bound Python program under profkit and perf.

Started by python_overhead.sh (root check, package installation). Part "cost" keeps one
`profkit run` agent up and runs, in interleaved rounds, a native program and, for each interpreter
of --python, Python programs whose stacks are 10, 50 and 150 (--depths) Python frames deep, one copy
per CPU at high priority so they get nearly all the samples, and reads the kernel's run_time_ns / run_cnt of the agent's perf_event BPF
programs around each run (kernel.bpf_stats_enabled; the same counters `bpftool prog show -j`
prints, read from the agent's own fds so other BPF users on the host are not counted). Part
"slowdown" is overhead.py's interleaved benchmark with workloads/cpu_bound.py as the workload,
run by the first interpreter of --python.
Everything started here is stopped on exit, including Ctrl-C and SIGTERM.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import overhead
from overhead import BenchError, Interrupted

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEPTH_WORKLOAD = REPO_DIR / "tests" / "workloads" / "python" / "recursion.py"
PYTHON_BENCH_WORKLOAD = BENCH_DIR / "workloads" / "cpu_bound.py"

# Python frames the recursion workload has besides its descend frames: spin, main, <module>.
RECURSION_FIXED_FRAMES = 3
PYTHON_DEPTHS = (10, 50, 150)
# cpu_bound.c work units per second of CPU on the reference VM (6500 units take about 5 s).
NATIVE_UNITS_PER_SECOND = 1300
# A cost-part run taking longer than this many times its CPU seconds per copy is treated as hung.
COST_RUN_TIMEOUT_FACTOR = 10.0
# Goals from the Python-stacks issue.
GOAL_NS_PER_SAMPLE_AT_50 = 10_000
GOAL_SLOWDOWN_PCT = 1.0


def rotate(items, r):
    return items[r % len(items):] + items[:r % len(items)]


class CostRun:
    """One measured window: BPF counters of the agent around a set of target processes."""

    def __init__(self, runs, run_ns, target_cpu_s, wall_s):
        self.runs = runs
        self.run_ns = run_ns
        self.target_cpu_s = target_cpu_s
        self.wall_s = wall_s


class SampleCost:
    """Part "cost": per-sample BPF time of the agent by the kind and depth of the sampled stack."""

    def __init__(self, args, workdir: Path):
        self.args = args
        # overhead.Bench brings the agent up (config, readiness) and compiles cpu_bound.c.
        agent_args = argparse.Namespace(**vars(args))
        agent_args.frequency = args.cost_rate
        self.bench = overhead.Bench(agent_args, workdir)
        self.targets: list[subprocess.Popen] = []
        self.cpus = sorted(os.sched_getaffinity(0))
        # "python<index of --python>-<depth>"
        self.configs = ["idle", "native"] + [f"python{i}-{d}" for i in range(len(args.pythons))
                                             for d in args.depths]

    def command(self, config: str) -> list[str]:
        seconds = self.args.cost_seconds
        if config == "native":
            return [str(self.bench.workload_bin), str(max(1, round(NATIVE_UNITS_PER_SECOND * seconds)))]
        python, frames = python_config(config)
        return [self.args.pythons[python].path, str(DEPTH_WORKLOAD), str(seconds),
                str(frames - RECURSION_FIXED_FRAMES)]

    def measure(self, agent: overhead.Profiler, config: str) -> CostRun:
        runs0, wall0 = overhead.bpf_stats(agent.pid), time.monotonic()
        cpu_s = 0.0
        if config == "idle":
            time.sleep(self.args.cost_seconds)
        else:
            # One copy per CPU at high priority: the targets get nearly every sample, so the
            # background's share (estimated from the idle windows) stays a small correction.
            for cpu in self.cpus:
                argv = ["taskset", "-c", str(cpu), "nice", "-n", str(self.args.nice), *self.command(config)]
                self.targets.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                     start_new_session=True))
            deadline = time.monotonic() + COST_RUN_TIMEOUT_FACTOR * self.args.cost_seconds + 10
            for proc in list(self.targets):
                # wait4 gives the exited child's own CPU time (taskset and nice exec it in place).
                while True:
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        break
                    if time.monotonic() > deadline:
                        raise BenchError(f"{config}: target did not finish in time")
                    time.sleep(0.02)
                proc.returncode = os.waitstatus_to_exitcode(status)
                out, err = proc.communicate()
                self.targets.remove(proc)
                if proc.returncode != 0:
                    raise BenchError(f"{config}: target failed ({proc.returncode}): {out!r} {err!r}")
                cpu_s += usage.ru_utime + usage.ru_stime
        runs1, wall1 = overhead.bpf_stats(agent.pid), time.monotonic()
        if agent.proc.poll() is not None:
            raise agent.fail(f"exited with status {agent.proc.returncode} during {config}")
        return CostRun(runs1[1] - runs0[1], runs1[0] - runs0[0], cpu_s, wall1 - wall0)

    def run(self) -> dict[str, list[CostRun]]:
        self.bench.compile_workload()
        agent = self.bench.start_profiler("profkit", "cost")
        results = {c: [] for c in self.configs}
        try:
            for r in range(self.args.cost_rounds):
                for config in rotate(self.configs, r):
                    results[config].append(self.measure(agent, config))
                    print(f"cost round {r + 1}/{self.args.cost_rounds} {config}", file=sys.stderr)
        finally:
            self.bench.stop_profiler(agent)
        return results

    def cleanup(self):
        for proc in self.targets:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.bench.cleanup()


def python_config(config: str) -> tuple[int, int]:
    """(index in --python, Python frames) of a config "python<index>-<frames>"."""
    python, frames = config.removeprefix("python").split("-")
    return int(python), int(frames)


def cost_report(results: dict[str, list[CostRun]], args) -> str:
    rate = args.cost_rate
    idle = [r for r in results["idle"] if r.runs]
    # The background's cost per sample, from the windows with no target (other tasks on the host).
    bg_ns = statistics.median(r.run_ns / r.runs for r in idle) if idle else 0.0
    bg_rate = statistics.median(r.runs / r.wall_s for r in results["idle"])
    lines = [
        "| target | interpreter | Python frames | target samples per run (est.) | other samples per run | "
        "mean ns per BPF run, all | ns per target sample (background-corrected), median | min–max | "
        "vs native |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| idle (background only) | — | — | 0 | {statistics.median(r.runs for r in results['idle']):.0f} | "
        f"{bg_ns:.0f} | — | — | — |",
    ]
    per_sample = {}
    for config, runs in results.items():
        if config == "idle":
            continue
        values = []
        for r in runs:
            target = r.target_cpu_s * rate  # a CPU-clock event fires once per 1/rate s of CPU
            background = max(0.0, r.runs - target)
            if target > 0:
                values.append((r.run_ns - background * bg_ns) / target)
        per_sample[config] = statistics.median(values) if values else None
        if config == "native":
            interpreter, frames = "—", "—"
        else:
            python, depth = python_config(config)
            interpreter, frames = args.pythons[python].describe(), str(depth)
        lines.append(
            f"| {config} | {interpreter} | {frames} | {statistics.median(r.target_cpu_s * rate for r in runs):.0f} | "
            f"{statistics.median(max(0.0, r.runs - r.target_cpu_s * rate) for r in runs):.0f} | "
            f"{statistics.median(r.run_ns / r.runs for r in runs if r.runs):.0f} | "
            f"{overhead.fmt_opt(per_sample[config], '.0f')} | "
            f"{min(values):.0f}–{max(values):.0f} | "
            f"{'—' if config == 'native' else overhead.fmt_opt(per_sample[config] - per_sample['native'], '+.0f')} |")
    verdicts = []
    for i, python in enumerate(args.pythons):
        at50 = per_sample.get(f"python{i}-50")
        verdict = "—" if at50 is None else (
            f"{at50 / 1000:.1f} µs, {'met' if at50 <= GOAL_NS_PER_SAMPLE_AT_50 else 'NOT met'}")
        verdicts.append(f"{python.describe()}: {verdict}")
    return "\n".join([
        f"Per-sample BPF cost: {args.cost_rounds} rounds, order rotated; {rate} Hz; {args.cost_seconds} s of "
        f"CPU per target copy, one copy per CPU ({len(os.sched_getaffinity(0))}) at nice {args.nice}; "
        f"background {bg_rate:.0f} BPF runs/s when idle.", "", *lines, "",
        f"Goal ≤ {GOAL_NS_PER_SAMPLE_AT_50 / 1000:.0f} µs per sample at 50 Python frames: {'; '.join(verdicts)}."])


class PythonBench(overhead.Bench):
    """overhead.py's benchmark with the pure-Python workload in place of cpu_bound.c."""

    def compile_workload(self):
        self.workload_bin = self.workdir / "cpu_bound_py"
        self.workload_bin.write_text(
            f"#!/bin/sh\nexec {shlex.quote(self.args.pythons[0].path)} {shlex.quote(str(PYTHON_BENCH_WORKLOAD))} "
            "\"$@\"\n")
        self.workload_bin.chmod(0o755)


class Python:
    """One interpreter of --python: its path and CPython version."""

    def __init__(self, path: str):
        self.path = path
        self.version = subprocess.run([path, "-c", "import platform; print(platform.python_version())"],
                                      capture_output=True, text=True, check=True, timeout=60).stdout.strip()

    def describe(self) -> str:
        return f"{self.version} ({self.path})"


def parse_args():
    p = argparse.ArgumentParser(prog="python_overhead.sh", description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="cost,slowdown", help="comma-separated subset of cost,slowdown")
    p.add_argument("--python", default="/usr/bin/python3",
                   help="comma-separated interpreters of the Python workloads, measured side by side in "
                        "part cost; part slowdown uses the first (default /usr/bin/python3)")
    p.add_argument("--depths", default=",".join(map(str, PYTHON_DEPTHS)),
                   help="comma-separated Python stack depths of part cost (default 10,50,150)")
    p.add_argument("--profkit", default=str(REPO_DIR / "build" / "profkit"),
                   help="profkit binary (default: <repo>/build/profkit)")
    p.add_argument("--cost-rounds", type=int, default=3, help="interleaved rounds of part cost (default 3)")
    p.add_argument("--cost-seconds", type=float, default=4.0,
                   help="CPU seconds per target copy in part cost (default 4)")
    p.add_argument("--cost-rate", type=int, default=99, help="sampling Hz in part cost (default 99)")
    p.add_argument("--nice", type=int, default=-20,
                   help="nice value of the part-cost targets, so they get nearly every sample (default -20)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of part slowdown (default 5)")
    p.add_argument("--frequency", type=int, default=99, help="sampling Hz in part slowdown (default 99)")
    p.add_argument("--configs", default="baseline,profkit,perf",
                   help="part slowdown: subset of baseline,profkit,perf,bpftrace")
    p.add_argument("--upload-interval", default="5s", help="profkit ebpf.upload_interval (default 5s)")
    p.add_argument("--work-units", type=int, default=0,
                   help="part slowdown workload size (default: cpu_bound.py's own, ~5 s on the reference VM)")
    p.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1,
                   help="CPU the part-slowdown workload is pinned to (default: the last one)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, data)")
    args = p.parse_args()
    args.parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    if not args.parts or set(args.parts) - {"cost", "slowdown"}:
        p.error("--parts must be a subset of cost,slowdown")
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if set(args.configs) - set(overhead.ALL_CONFIGS) or "baseline" not in args.configs:
        p.error("--configs must include baseline and be a subset of " + ",".join(overhead.ALL_CONFIGS))
    if not 1 <= args.cost_rounds <= 20 or not 1 <= args.rounds <= 20:
        p.error("--cost-rounds and --rounds must be in 1..20")
    if not 0.5 <= args.cost_seconds <= 60:
        p.error("--cost-seconds must be in 0.5..60")
    for name in ("cost_rate", "frequency"):
        if not 1 <= getattr(args, name) <= 1000:
            p.error(f"--{name.replace('_', '-')} must be in 1..1000")
    if not -20 <= args.nice <= 19:
        p.error("--nice must be in -20..19")
    if args.work_units and not 1 <= args.work_units <= 100000:
        p.error("--work-units must be in 1..100000")
    if args.cpu not in os.sched_getaffinity(0):
        p.error(f"--cpu {args.cpu} is not available to this process")
    if not re.fullmatch(r"[0-9]+(ms|s|m)", args.upload_interval):
        p.error("--upload-interval must look like 500ms, 5s or 1m")
    if not os.access(args.profkit, os.X_OK):
        p.error(f"no executable profkit at {args.profkit}")
    paths = [x.strip() for x in args.python.split(",") if x.strip()]
    if not paths:
        p.error("--python needs at least one interpreter")
    for path in paths:
        if not os.access(path, os.X_OK):
            p.error(f"no executable interpreter at {path}")
    try:
        args.depths = [int(x) for x in args.depths.split(",") if x.strip()]
    except ValueError:
        p.error("--depths must be comma-separated integers")
    if not args.depths or any(not RECURSION_FIXED_FRAMES < d <= 500 for d in args.depths):
        p.error(f"--depths must be in {RECURSION_FIXED_FRAMES + 1}..500")
    try:
        args.pythons = [Python(path) for path in paths]
    except (subprocess.SubprocessError, OSError) as e:
        p.error(f"an interpreter of --python does not run: {e}")
    return args


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("python_overhead: must run as root (perf -a, BPF)", file=sys.stderr)
        return 1
    invocation = os.environ.get("PROFKIT_BENCH_INVOCATION") or shlex.join(sys.argv)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, overhead.on_signal)

    workdir = Path(tempfile.mkdtemp(prefix="profkit-pyoverhead-"))
    stats_before = overhead.BPF_STATS_SYSCTL.read_text().strip()
    cost = None
    bench = None
    try:
        overhead.BPF_STATS_SYSCTL.write_text("1\n")
        out = ["Python: " + ", ".join(f"CPython {python.describe()}" for python in args.pythons)]
        if "cost" in args.parts:
            cost = SampleCost(args, workdir)
            out += ["", cost_report(cost.run(), args)]
        if "slowdown" in args.parts:
            bench = PythonBench(args, workdir)
            configs = bench.run()
            out.append(overhead.report(configs, args, invocation, bench.warnings))
            base = next(c for c in configs if c.name == "baseline")
            prof = next((c for c in configs if c.name == "profkit" and c.runs), None)
            if prof:
                on_cpu = overhead.median_of([r.on_cpu_s for r in prof.runs])
                base_cpu = overhead.median_of([r.on_cpu_s for r in base.runs])
                if on_cpu and base_cpu:
                    slow = 100 * (on_cpu / base_cpu - 1)
                    out.append(f"\nGoal ≤ {GOAL_SLOWDOWN_PCT:.0f}% slowdown (on-CPU) under profkit at "
                               f"{args.frequency} Hz: {slow:+.2f}%, "
                               f"{'met' if slow <= GOAL_SLOWDOWN_PCT else 'NOT met'}.")
        print("\n".join(out))
        return 0
    except BenchError as e:
        print(f"python_overhead: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(f"python_overhead: interrupted by {e}; cleaning up", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if cost is not None:
            cost.cleanup()
        if bench is not None:
            bench.cleanup()
        overhead.BPF_STATS_SYSCTL.write_text(stats_before + "\n")
        if args.keep:
            print(f"python_overhead: work directory kept at {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
