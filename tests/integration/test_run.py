"""`profkit run`: system-wide sampling → pprof per service → fake Dataway and local files."""
import email.parser
import email.policy
import json
import os
import re
import socket
import subprocess
import time
import calendar
from urllib.parse import parse_qs, urlsplit

from conftest import TEST_RATE, assert_sample_count, cpu_seconds

SHARE_TOLERANCE = 0.05
SERVICE = "two-func-svc"


def rfc3339_ns(text):
    """RFC 3339 with nine fraction digits and Z, as profkit writes it."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{9})Z", text)
    assert match, text
    return calendar.timegm(time.strptime(match[1], "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(match[2])


def parse_multipart(request):
    content_type = request["headers"]["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request["body"])
    parts = {}
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition")
        name = re.search(r'name="([^"]*)"', disposition).group(1)
        filename = re.search(r'filename="([^"]*)"', disposition).group(1)
        parts[name] = (filename, part.get_payload(decode=True))
    return parts


def uploads_of(requests, service):
    out = []
    for request in requests:
        if not request["path"].startswith("/v1/upload/profiling"):
            continue  # profiling_metrics lines
        parts = parse_multipart(request)
        event = json.loads(parts["event"][1])
        if f"service:{service}," in event["tags_profiler"] + ",":
            out.append((request, parts, event))
    return out


def config(dataway_url, local_dir, interval="2s"):
    return f"""
[dataway]
url = "{dataway_url}"
[local]
dir = "{local_dir}"
[ebpf]
sample_rate = {TEST_RATE}
upload_interval = "{interval}"
env = "default-env"
"""


def test_run_uploads_per_service_profiles(start_agent, fake_dataway, two_functions, tmp_path, read_pprof,
                                          go_tool):
    local_dir = tmp_path / "profiles"
    agent = start_agent(config(f"http://127.0.0.1:{fake_dataway.port}/?token=tkn_test", local_dir))
    agent.wait_for_log("eBPF sampling started")
    env = dict(os.environ, DD_SERVICE=SERVICE, DD_ENV="staging", DD_VERSION="1.2.3", SECRET_TOKEN="hunter2")
    workload = subprocess.run([two_functions, "6"], env=env, capture_output=True, text=True, check=True)
    expected = cpu_seconds(workload.stdout) * TEST_RATE

    def samples_of(requests):
        return sum(read_pprof(p["cpu.pprof"][1]).total() for _, p, _ in uploads_of(requests, SERVICE))

    # The interval the workload ended in is uploaded within one more interval.
    requests = fake_dataway.wait_for(lambda rs: samples_of(rs) >= 0.85 * expected, timeout=60)
    assert agent.stop(timeout=10) == 0
    assert_sample_count(samples_of(requests), expected / TEST_RATE, TEST_RATE)

    uploads = uploads_of(requests, SERVICE)
    hostname = socket.gethostname()
    merged_total = merged_a = merged_b = 0
    for request, parts, event in uploads:
        url = urlsplit(request["path"])
        assert url.path == "/v1/upload/profiling"
        assert parse_qs(url.query) == {"token": ["tkn_test"]}
        assert set(parts) == {"event", "cpu.pprof"}
        assert parts["event"][0] == "event.json"
        assert parts["cpu.pprof"][0] == "cpu.pprof"
        assert event["format"] == "pprof"
        assert event["profiler"] == "profkit"
        assert event["attachments"] == ["cpu.pprof"]
        assert event["language"] == "cpp"
        tags = dict(t.split(":", 1) for t in event["tags_profiler"].split(","))
        assert tags["service"] == SERVICE
        assert tags["env"] == "staging"
        assert tags["version"] == "1.2.3"
        assert tags["host"] == hostname
        assert "hunter2" not in request["body"].decode(errors="replace"), "only DD_* service variables may leave"
        start, end = rfc3339_ns(event["start"]), rfc3339_ns(event["end"])
        assert 1e9 <= end - start <= 4e9
        profile = read_pprof(parts["cpu.pprof"][1])
        assert profile.message.duration_nanos > 0
        assert profile.message.time_nanos > 0
        merged_total += profile.total()
        merged_a += sum(s.value[0] for s in profile.message.sample if profile.frames(s)[:1] == ["hot_a"])
        merged_b += sum(s.value[0] for s in profile.message.sample if profile.frames(s)[:1] == ["hot_b"])
    assert abs(merged_a / merged_total - 0.70) <= SHARE_TOLERANCE, (merged_a, merged_b, merged_total)
    assert abs(merged_b / merged_total - 0.30) <= SHARE_TOLERANCE, (merged_a, merged_b, merged_total)

    # The same profiles were written locally and load in Go's pprof tooling.
    files = sorted((local_dir / SERVICE).glob("*.pprof"))
    assert len(files) >= len(uploads)
    top = subprocess.run([go_tool, "tool", "pprof", "-top", files[-1]], capture_output=True, text=True, timeout=120)
    assert top.returncode == 0, top.stderr
    # Other processes on the host got their own services (e.g. the agent itself or python3).
    assert len(list(local_dir.iterdir())) >= 2


def test_sigterm_flushes_and_exits_quickly(start_agent, two_functions, tmp_path, read_pprof):
    local_dir = tmp_path / "profiles"
    agent = start_agent(config("", local_dir, interval="1h"))
    agent.wait_for_log("eBPF sampling started")
    env = dict(os.environ, DD_SERVICE="flush-on-exit")
    workload = subprocess.run([two_functions, "2"], env=env, capture_output=True, text=True, check=True)
    began = time.monotonic()
    assert agent.stop(timeout=10) == 0
    assert time.monotonic() - began < 5.0
    files = list((local_dir / "flush-on-exit").glob("*.pprof"))
    assert len(files) == 1, "the partial interval is flushed on SIGTERM"
    assert_sample_count(read_pprof(files[0].read_bytes()).total(), cpu_seconds(workload.stdout), TEST_RATE)


def test_dataway_down_then_up_loses_nothing(start_agent, fake_dataway, two_functions, tmp_path, read_pprof):
    fake_dataway.status = 503
    agent = start_agent(config(f"http://127.0.0.1:{fake_dataway.port}?token=t", "", interval="2s"))
    agent.wait_for_log("eBPF sampling started")
    env = dict(os.environ, DD_SERVICE="retry-svc")
    workload = subprocess.run([two_functions, "3"], env=env, capture_output=True, text=True, check=True)
    expected = cpu_seconds(workload.stdout) * TEST_RATE
    # The workload's profiles were built while Dataway refused everything...
    fake_dataway.wait_for(lambda rs: any(r["status"] == 503 for r in rs), timeout=60)
    with fake_dataway.cond:
        fake_dataway.status = 200

    # ...then every sample of it is delivered once Dataway is back.
    def delivered_samples(requests):
        return sum(read_pprof(p["cpu.pprof"][1]).total()
                   for r, p, _ in uploads_of(requests, "retry-svc") if r["status"] == 200)

    # Retries back off up to 60 s while Dataway is down, then the queue drains.
    requests = fake_dataway.wait_for(lambda rs: delivered_samples(rs) >= 0.85 * expected, timeout=180)
    assert agent.stop(timeout=10) == 0
    assert_sample_count(delivered_samples(requests), expected / TEST_RATE, TEST_RATE)


def test_short_lived_processes_are_symbolized(start_agent, two_functions, tmp_path, read_pprof):
    """Programs that run for 50 ms and exit long before the profile is built."""
    local_dir = tmp_path / "profiles"
    agent = start_agent(config("", local_dir, interval="1h"))
    agent.wait_for_log("eBPF sampling started")
    env = dict(os.environ, DD_SERVICE="short-lived")
    cpu = 0.0
    for _ in range(20):
        cpu += cpu_seconds(subprocess.run([two_functions, "0.05"], env=env, capture_output=True, text=True,
                                          check=True).stdout)
    assert agent.stop(timeout=10) == 0
    profile = read_pprof(next((local_dir / "short-lived").glob("*.pprof")).read_bytes())
    assert_sample_count(profile.total(), cpu, TEST_RATE)
    symbolized = profile.leaf_share("hot_a") + profile.leaf_share("hot_b")
    assert symbolized >= 0.9, f"only {symbolized:.0%} of the samples of short-lived processes were symbolized"


def test_slow_flush_does_not_stop_sampling(start_agent, two_functions, tmp_path):
    """Flushes run on the flush worker: while one is slowed down on purpose (the test hook
    PROFKIT_DEBUG_SYMBOLIZE_DELAY_US sleeps in every symbolization), the reader keeps draining the
    ring buffer at 99 Hz on every CPU, and no record is dropped."""
    local_dir = tmp_path / "profiles"
    agent = start_agent(config("", local_dir, interval="1s").replace(f"sample_rate = {TEST_RATE}", "sample_rate = 99"),
                        env={"PROFKIT_DEBUG_SYMBOLIZE_DELAY_US": "200000"}, log_level="debug")
    # 200 ms per frame: on a quiet host a one-second interval of this workload has under 20
    # distinct frames, so 3 ms or 20 ms left every flush under a second.
    agent.wait_for_log("eBPF sampling started")
    env = dict(os.environ, DD_SERVICE="slow-flush")
    subprocess.run([two_functions, "8"], env=env, capture_output=True, text=True, check=True)
    # The slowed flushes take seconds; SIGTERM waits for the running one and the last.
    assert agent.stop(timeout=120) == 0
    log = agent.text()
    flushes = [(int(ms), int(records)) for ms, records in
               re.findall(r"flushed interval \d+ \(\d+ services\) in (\d+) ms; (\d+) records read meanwhile", log)]
    slow = [(ms, records) for ms, records in flushes if ms >= 1000]
    assert slow, f"no flush took a second; the hook did not slow it: {flushes}"
    assert any(records > 0 for _, records in slow), f"no record was read during a slow flush: {flushes}"
    merged = [int(n) for n in re.findall(r"flush counters: flushes=\d+ merged_intervals=(\d+)", log)]
    assert merged and merged[-1] > 0, "intervals that ended during a slow flush are merged into the next"
    drops = [int(n) for n in re.findall(r"counters: samples=\d+ ringbuf_drops=(\d+)", log)]
    assert drops and drops[-1] == 0, log[-2000:]
    assert list((local_dir / "slow-flush").glob("*.pprof")), "the workload's profiles were still delivered"
