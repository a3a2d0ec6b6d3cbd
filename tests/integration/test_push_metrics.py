"""profiling_metrics end to end: pushed uploads (the dd-trace-js fixture, a real dd-trace-js, a
decompression bomb) and the eBPF profile of a Python process give line-protocol points at the fake
Dataway's /v1/write/metric."""
import gzip
import json
import os
import shutil
import subprocess

from conftest import (FIXTURE_CONTENT_TYPE, REPO, fixture_upload, forwarded_services, free_port,
                      parse_forwarded, post, push_config)
from test_push_ddtrace_js import ddtrace_js  # noqa: F401 (pytest fixture)
from test_run import config as run_config

METRIC_PATH = "/v1/write/metric?token=tkn_it"


def parse_line(line):
    """'m,k=v,... f=1i,g=0.5 ts' → (measurement, tags, fields, ts); no escapes in these tests but '\\ '."""
    import re
    head, fields, ts = re.split(r"(?<!\\) ", line)
    measurement, *tags = re.split(r"(?<!\\),", head)
    tags = dict(t.replace("\\ ", " ").split("=", 1) for t in tags)
    values = {}
    for field in fields.split(","):
        key, value = field.split("=", 1)
        values[key] = int(value[:-1]) if value.endswith("i") else float(value)
    return measurement, tags, values, int(ts)


def metric_lines(requests, service=None):
    lines = []
    for request in requests:
        if not request["path"].startswith("/v1/write/metric"):
            continue
        assert request["path"] == METRIC_PATH or "token=" in request["path"]
        for line in request["body"].decode().splitlines():
            parsed = parse_line(line)
            if service is None or parsed[1].get("service") == service:
                lines.append(parsed)
    return lines


def pprof_sums(read_pprof, data):
    profile = read_pprof(data)
    return {name: profile.total(i) for i, (name, _) in enumerate(profile.sample_types())}


def fixture_parts(body):
    parts = {}
    for chunk in body.split(b"--6f6355e8d3c54f4b")[1:-1]:
        head, data = chunk[2:].split(b"\r\n\r\n", 1)
        parts[head.decode().split('name="', 1)[1].split('"', 1)[0]] = data[:-2]
    return parts


def start_push_agent(start_agent, fake_dataway, tmp_path, extra=""):
    port = free_port()
    agent = start_agent(push_config(fake_dataway.port, port, tmp_path / "data", extra))
    agent.wait_for_log("receiving profiles on")
    agent.port = port
    return agent


def test_fixture_upload_gives_nodejs_metrics(start_agent, fake_dataway, read_pprof, tmp_path):
    agent = start_push_agent(start_agent, fake_dataway, tmp_path, '  [inputs.profile.tags]\n    team = "a b"\n')
    body = fixture_upload()
    status, answer = post(agent.port, "/profiling/v1/input", body, FIXTURE_CONTENT_TYPE, chunked=True)
    assert status == 200, answer
    requests = fake_dataway.wait_for(lambda rs: metric_lines(rs) and forwarded_services(rs), timeout=30)
    metric = next(r for r in requests if r["path"].startswith("/v1/write/metric"))
    assert metric["path"] == METRIC_PATH
    assert metric["headers"]["Content-Type"].startswith("text/plain")
    [(measurement, tags, fields, ts)] = metric_lines(requests)
    assert measurement == "profiling_metrics"
    assert tags == {"language": "nodejs", "host": "it-host", "service": "node-demo", "env": "dev",
                    "version": "1.0", "team": "a b"}
    assert ts == 1795310075969000000  # the event's end, 2026-11-22T01:14:35.969Z
    parts = fixture_parts(body)
    wall, space = pprof_sums(read_pprof, parts["wall.pprof"]), pprof_sums(read_pprof, parts["space.pprof"])
    duration_ns = 10_224_000_000
    assert fields == {"prof_nodejs_cpu_cores": wall["cpu"] / duration_ns,
                      "prof_nodejs_wall_time": wall["wall"],
                      "prof_nodejs_lifetime_heap_bytes": space["inuse_space"],
                      "prof_nodejs_lifetime_heap_objects": space["inuse_objects"]}
    assert agent.stop() == 0


def python_upload(service, pprof, boundary="bombboundary"):
    event = ('{"attachments":["auto.pprof"],"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z",'
             f'"family":"python","version":"4","tags_profiler":"service:{service},language:python"}}').encode()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"event\"; filename=\"event.json\"\r\n\r\n"
            ).encode() + event + (f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"auto\"; "
                                  "filename=\"auto.pprof\"\r\n\r\n").encode() + pprof + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_decompression_bomb_is_forwarded_without_metrics(start_agent, fake_dataway, pprof_pb2, tmp_path):
    agent = start_push_agent(start_agent, fake_dataway, tmp_path)
    # 100 MiB of zeros in ~100 KiB: past the 64 MiB bound on a decompressed part.
    bomb = gzip.compress(bytes(100 << 20), compresslevel=1)
    body, content_type = python_upload("bomb-svc", bomb)
    status, answer = post(agent.port, "/profiling/v1/input", body, content_type)
    assert status == 200, answer

    profile = pprof_pb2.Profile()
    profile.string_table.extend(["", "wall-time", "nanoseconds"])
    profile.sample_type.add(type=1, unit=2)
    profile.sample.add(value=[30_000_000_000])
    body, content_type = python_upload("good-svc", gzip.compress(profile.SerializeToString()))
    status, answer = post(agent.port, "/profiling/v1/input", body, content_type)
    assert status == 200, answer

    # One publisher thread, in arrival order: the bomb's attempt is over once good-svc's line arrives.
    requests = fake_dataway.wait_for(
        lambda rs: metric_lines(rs, "good-svc") and {"bomb-svc", "good-svc"} <= set(forwarded_services(rs)),
        timeout=30)
    assert [fields for _, _, fields, _ in metric_lines(requests)] == [{"prof_python_wall_time": 30_000_000_000}]
    agent.wait_for_log('profiling_metrics: no metrics for a profile of service "bomb-svc"')
    assert "exceeds 67108864 bytes" in agent.text()
    assert agent.stop() == 0


def test_ddtrace_js_run_gives_nodejs_metrics(ddtrace_js, start_agent, fake_dataway, tmp_path):  # noqa: F811
    agent = start_push_agent(start_agent, fake_dataway, tmp_path)
    env = dict(os.environ, DD_PROFILING_ENABLED="true", DD_TRACE_AGENT_URL=f"http://127.0.0.1:{agent.port}",
               DD_SERVICE="node-metrics", DD_ENV="it", DD_VERSION="2.0", DD_PROFILING_UPLOAD_PERIOD="5",
               DD_TRACE_STARTUP_LOGS="false", DD_INSTRUMENTATION_TELEMETRY_ENABLED="false")
    log = open(tmp_path / "node.log", "wb")
    node = subprocess.Popen(["node", str(ddtrace_js / "app.js")], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        requests = fake_dataway.wait_for(lambda rs: metric_lines(rs, "node-metrics"), timeout=90)
    finally:
        node.kill()
        node.wait()
        log.close()
    _, tags, fields, ts = metric_lines(requests, "node-metrics")[0]
    assert tags == {"language": "nodejs", "host": "it-host", "service": "node-metrics", "env": "it",
                    "version": "2.0"}
    print(f"dd-trace-js point: {fields}")
    # app.js burns about 40 ms of CPU every 100 ms.
    assert 0.1 < fields["prof_nodejs_cpu_cores"] < 1.0, fields
    assert fields["prof_nodejs_wall_time"] > 1_000_000_000, fields
    assert fields["prof_nodejs_lifetime_heap_bytes"] > 0 and fields["prof_nodejs_lifetime_heap_objects"] > 0
    assert ts > 1_700_000_000_000_000_000
    assert agent.stop() == 0


def rfc3339_ns(text):
    """profkit's event times: '2026-11-22T01:14:25.123456789Z'."""
    import calendar
    import time as time_module
    seconds, fraction = text.rstrip("Z").split(".")
    return calendar.timegm(time_module.strptime(seconds, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(fraction.ljust(9, "0"))


def test_ebpf_python_cpu_cores(root, start_agent, fake_dataway, tmp_path):
    python = shutil.which("python3")
    agent = start_agent(run_config(f"http://127.0.0.1:{fake_dataway.port}/?token=tkn_it", tmp_path / "profiles"))
    agent.wait_for_log("eBPF sampling started")
    done = subprocess.run([python, REPO / "tests/workloads/python/split.py", "4"],
                          env=dict(os.environ, DD_SERVICE="py-metrics"), capture_output=True, text=True,
                          timeout=60, check=True)
    cpu = float(done.stdout.split("cpu_seconds=", 1)[1].split()[0])

    def intervals(requests):
        """(cores, interval seconds) of each point, the interval from the upload ending at its time."""
        durations = {}
        for request in requests:
            if request["path"].startswith("/v1/upload/profiling"):
                event = json.loads(parse_forwarded(request)["event"][1])
                if "service:py-metrics," in event["tags_profiler"] + ",":
                    end = rfc3339_ns(event["end"])
                    durations[end] = (end - rfc3339_ns(event["start"])) / 1e9
        return [(fields["prof_python_cpu_cores"], durations.get(ts))
                for _, _, fields, ts in metric_lines(requests, "py-metrics")]

    def cpu_seen(requests):
        return sum(cores * seconds for cores, seconds in intervals(requests) if seconds)

    # Each interval is delivered within about one more (2 s) after the workload ends.
    try:
        requests = fake_dataway.wait_for(lambda rs: cpu_seen(rs) >= 0.8 * cpu, timeout=30)
    except AssertionError as error:
        raise AssertionError(f"{error}; (cores, seconds) so far {intervals(fake_dataway.requests)}, "
                             f"workload CPU {cpu:.2f} s") from None
    seen = intervals(requests)
    print(f"(prof_python_cpu_cores, interval s): {seen}; workload CPU {cpu:.2f} s")
    _, tags, _, _ = metric_lines(requests, "py-metrics")[0]
    assert tags["language"] == "python" and tags["host"]
    # One thread: never more than one core; over all intervals, the process's own CPU time.
    assert all(0 < cores <= 1.1 for cores, _ in seen), seen
    assert 0.8 * cpu <= cpu_seen(requests) <= 1.2 * cpu, (seen, cpu)
    assert agent.stop() == 0
