"""Go pull mode ([[inputs.profile.go]]) and the Dataway election, end to end: a real Go program
serving net/http/pprof (tests/workloads/go/pprof_target, built with Debian's golang-go), the
agent pulling from it every 10 s (the issue's minimum), and the fake Dataway receiving uploads and
answering election requests.

Rounds are 10 s apart, so each test runs several targets or phases at once rather than one after
the other.
"""
import json
import os
import re
import socket
import subprocess
import time
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import BUILD, REPO, free_port, parse_forwarded, require

INTERVAL = 10  # seconds; the configuration's minimum


def go_env(go_home):
    """`go` offline, its caches under the build directory so that reruns are fast."""
    env = dict(os.environ)
    env.update(HOME=str(go_home), GOCACHE=str(go_home / "cache"), GOPATH=str(go_home / "path"),
               GOFLAGS="", GOPROXY="off", GOTOOLCHAIN="local", PPROF_TMPDIR=str(go_home))
    return env


@pytest.fixture(scope="module")
def go_home(go_tool):
    path = (BUILD / "go-test").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def pprof_target_bin(go_home, workdir):
    out = workdir / "pprof_target"
    subprocess.run(["go", "build", "-o", out, "."], cwd=REPO / "tests/workloads/go/pprof_target",
                   env=go_env(go_home), check=True)
    return out


class GoProgram:
    def __init__(self, binary, addr="127.0.0.1:0"):
        env = dict(os.environ, PPROF_TARGET_ADDR=addr)
        self.proc = subprocess.Popen([binary], stdout=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("port "), f"pprof_target printed {line!r}"
        self.port = int(line.split()[1])

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def go_programs(pprof_target_bin):
    programs = []

    def start(addr="127.0.0.1:0"):
        programs.append(GoProgram(pprof_target_bin, addr))
        return programs[-1]

    yield start
    for program in programs:
        program.stop()


def go_target(port, service, types, extra=""):
    quoted = ", ".join(f'"{t}"' for t in types)
    return f"""
[[inputs.profile.go]]
  url = "http://127.0.0.1:{port}"
  interval = "{INTERVAL}s"
  service = "{service}"
  enabled_types = [{quoted}]
{extra}"""


def pull_config(tmp_path, targets, dataway_port=None, profile="election = false", agent=""):
    dataway = f'url = "http://127.0.0.1:{dataway_port}/?token=tkn_it"' if dataway_port else ""
    return f"""
[agent]
data_dir = "{tmp_path}"
hostname = "it-host"
{agent}
[http]
listen = "127.0.0.1:{free_port()}"
[dataway]
{dataway}
[local]
dir = "{tmp_path / 'profiles'}"
[ebpf]
enabled = false
[[inputs.profile]]
{profile}
{targets}
"""


def event_of(request):
    return json.loads(parse_forwarded(request)["event"][1])


def tags_of(event):
    return dict(t.split(":", 1) for t in event["tags_profiler"].split(",") if ":" in t)


def uploads_of(requests, service):
    return [r for r in requests
            if r["path"].startswith("/v1/upload/profiling") and tags_of(event_of(r)).get("service") == service]


def assert_loads_in_go_pprof(go_home, tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    result = subprocess.run(["go", "tool", "pprof", "-top", path], env=go_env(go_home),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"go tool pprof {name}: {result.stderr}"
    assert "flat%" in result.stdout, result.stdout


def test_pull_uploads_deltas_survives_down_and_slow_targets(
        fake_dataway, start_agent, go_programs, go_home, read_pprof, tmp_path):
    demo = go_programs()
    late_port = free_port()  # nobody listens yet: the target is down
    # Accepts connections (the kernel's backlog) but never answers: a hanging target.
    slow = socket.socket()
    slow.bind(("127.0.0.1", 0))
    slow.listen(8)
    slow_port = slow.getsockname()[1]
    targets = (
        go_target(demo.port, "go-demo", ["cpu", "heap", "goroutine", "mutex", "block"],
                  'env = "dev"\n  version = "0.0.0"\n  [inputs.profile.go.tags]\n    tag1 = "val1"')
        + go_target(late_port, "go-late", ["heap", "goroutine"])
        + go_target(slow_port, "go-slow", ["goroutine"]))
    agent = start_agent(pull_config(tmp_path, targets, fake_dataway.port))

    # Round 1 sends cpu and goroutines only (deltas need a previous pull), round 2 the deltas.
    requests = fake_dataway.wait_for(lambda r: len(uploads_of(r, "go-demo")) >= 2, timeout=2 * INTERVAL + 10)
    first, second = uploads_of(requests, "go-demo")[:2]
    assert set(parse_forwarded(first)) == {"event", "cpu.pprof", "goroutines.pprof"}
    parts = parse_forwarded(second)
    assert set(parts) == {"event", "cpu.pprof", "delta-heap.pprof", "delta-mutex.pprof",
                          "delta-block.pprof", "goroutines.pprof"}
    assert second["path"] == "/v1/upload/profiling?token=tkn_it"
    event = event_of(second)
    assert event["language"] == "golang"
    assert event["profiler"] == "pprof"
    assert event["format"] == "pprof"
    assert sorted(event["attachments"]) == sorted(set(parts) - {"event"})
    tags = tags_of(event)
    assert {k: tags.get(k) for k in ("service", "env", "version", "host", "tag1")} == {
        "service": "go-demo", "env": "dev", "version": "0.0.0", "host": "it-host", "tag1": "val1"}
    for name, (_, data) in parts.items():
        if name != "event":
            assert_loads_in_go_pprof(go_home, tmp_path, name, data)
    heap = read_pprof(parts["delta-heap.pprof"][1])
    assert [t for t, _ in heap.sample_types()] == ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
    # The program allocates 64 KiB every millisecond: the 10 s delta is far above zero.
    assert heap.total(1) > 1 << 20
    goroutines = read_pprof(parts["goroutines.pprof"][1])
    assert goroutines.sample_types() == [("goroutine", "count")]
    assert goroutines.total() >= 7  # the program's parked goroutines
    # profiling_metrics of the pulled rounds: the goroutine count from the goroutine sample type
    # (DataKit reads "goroutines" and sends 0).
    def go_demo_metrics(rs):
        return [r["body"].decode() for r in rs
                if r["path"].startswith("/v1/write/metric") and b"service=go-demo" in r["body"]]
    lines = go_demo_metrics(fake_dataway.wait_for(lambda r: len(go_demo_metrics(r)) >= 2, timeout=10))
    counts = [int(m.group(1)) for m in (re.search(r"prof_go_num_goroutine=(\d+)i?[, ]", line) for line in lines) if m]
    assert counts and min(counts) >= 7, lines
    assert all(line.startswith("profiling_metrics,") and "language=golang" in line for line in lines), lines
    assert any("prof_go_cpu_cores=" in line for line in lines), lines

    # go-late failed at t=0 and t=10 (logged once); it comes up now and round 3 (t=20) uploads.
    late = go_programs(f"127.0.0.1:{late_port}")
    assert late.port == late_port
    fake_dataway.wait_for(lambda r: uploads_of(r, "go-late"), timeout=INTERVAL + 10)
    agent.wait_for_log('Go target "go-late"', timeout=1)
    log = agent.text()
    assert log.count(f'Go target "go-late" (http://127.0.0.1:{late_port}): unreachable') == 1, log
    assert f'Go target "go-late" (http://127.0.0.1:{late_port}): up' in log
    # The hanging target timed out (15 s) without delaying the others.
    assert log.count(f'Go target "go-slow" (http://127.0.0.1:{slow_port}): timing out') == 1, log

    # SIGTERM while go-demo's CPU profile and go-slow's request are in flight.
    started = time.monotonic()
    assert agent.stop() == 0, agent.text()
    assert time.monotonic() - started < 5, agent.text()
    slow.close()


def test_election_pauses_and_resumes_pull(fake_dataway, start_agent, go_programs, tmp_path):
    demo = go_programs()
    # election = true is the default; heap and goroutine rounds take milliseconds, so an upload
    # follows a round at once.
    agent = start_agent(pull_config(tmp_path, go_target(demo.port, "go-elected", ["heap", "goroutine"]),
                                    fake_dataway.port, profile="", agent='election_namespace = "it-ns"'))

    def elections(requests, path="/v1/election?"):
        return [r for r in requests if r["path"].startswith(path)]

    # Candidate, denied: it keeps asking every `interval` (1 s) and pulls nothing.
    requests = fake_dataway.wait_for(lambda r: len(elections(r)) >= 3, timeout=10)
    assert not uploads_of(requests, "go-elected")
    query = parse_qs(urlparse(elections(requests)[0]["path"]).query)
    assert query == {"token": ["tkn_it"], "namespace": ["it-ns"], "id": ["it-host"]}

    # Elected: pulls at once, then heartbeats.
    fake_dataway.set_election(election_status="success")
    requests = fake_dataway.wait_for(lambda r: uploads_of(r, "go-elected"), timeout=5)
    elected_at = time.monotonic()
    requests = fake_dataway.wait_for(lambda r: elections(r, "/v1/election/heartbeat?"), timeout=5)
    agent.wait_for_log('election: leader of namespace "it-ns"', timeout=1)

    # Leader loss: the heartbeat says defeat; no round at the next tick.
    fake_dataway.set_election(election_status="defeat", heartbeat_status="defeat")
    agent.wait_for_log("pull inputs pause", timeout=5)
    count = len(uploads_of(fake_dataway.wait_for(lambda r: True, timeout=1), "go-elected"))
    next_tick = elected_at + INTERVAL + 1
    with pytest.raises(AssertionError, match="timed out"):
        fake_dataway.wait_for(lambda r: len(uploads_of(r, "go-elected")) > count,
                              timeout=next_tick - time.monotonic())

    # Regained: pulls at once again. The paused period's deltas belong to another leader, so
    # the heap delta starts over (only stored this round).
    fake_dataway.set_election(election_status="success", heartbeat_status="success")
    requests = fake_dataway.wait_for(lambda r: len(uploads_of(r, "go-elected")) > count, timeout=5)
    resumed = uploads_of(requests, "go-elected")[count]
    assert set(parse_forwarded(resumed)) == {"event", "goroutines.pprof"}
    assert agent.stop() == 0, agent.text()


def test_pull_without_dataway_writes_local_files(start_agent, go_programs, read_pprof, tmp_path):
    demo = go_programs()
    agent = start_agent(pull_config(tmp_path, go_target(demo.port, "go-local", ["goroutine"]),
                                    profile=""))
    service_dir = tmp_path / "profiles" / "go-local"
    deadline = time.monotonic() + 10
    while not list(service_dir.glob("*.pprof")):
        assert time.monotonic() < deadline, agent.text()
        time.sleep(0.05)  # polling a directory: there is no event to wait on
    profile = read_pprof(next(service_dir.glob("*.pprof")).read_bytes())
    assert profile.sample_types() == [("goroutine", "count")]
    assert "push endpoints are off" in agent.text()
    assert agent.stop() == 0, agent.text()


@pytest.mark.parametrize("setting, message", [
    ('interval = "5s"', "inputs.profile[0].go[0].interval: must be between 10s"),
    ('enabled_types = ["cpu", "threadcreate"]', "inputs.profile[0].go[0].enabled_types: invalid profile type"),
    ('tls_cert = "/etc/hostname"', "inputs.profile[0].go[0]: tls_cert and tls_key: set both or neither"),
])
def test_pull_config_errors_name_the_field(profkit_bin, tmp_path, setting, message):
    config = tmp_path / "bad.toml"
    config.write_text(f"""
[ebpf]
enabled = false
[[inputs.profile]]
[[inputs.profile.go]]
  url = "http://127.0.0.1:6060"
  {setting}
""")
    result = subprocess.run([profkit_bin, "run", "--config", config], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr, result.stderr
