"""[[inputs.profile.pyroscope]] end to end: the real @pyroscope/nodejs client (from npm) and raw
HTTP requests (folded text, gzipped pprof, the Connect push API, bad bodies) against profkit's
Pyroscope listener, which forwards to the fake Dataway. No eBPF (ebpf.enabled = false)."""
import gzip
import json
import os
import subprocess
import urllib.parse

import pytest

from conftest import REPO, forwarded_services, free_port, npm_packages, parse_forwarded, post, push_config, require

CLIENT = REPO / "tests" / "clients" / "pyroscope-js"


@pytest.fixture(scope="session")
def pyroscope_js():
    return npm_packages(CLIENT, "@pyroscope/nodejs", "install")


@pytest.fixture
def pyroscope_agent(start_agent, fake_dataway, tmp_path):
    def start(table=""):
        port = free_port()
        extra = (f'  body_size_limit_mb = 1\n  [[inputs.profile.pyroscope]]\n    url = "127.0.0.1:{port}"\n'
                 f'    env = "it"\n{table}')
        agent = start_agent(push_config(fake_dataway.port, free_port(), tmp_path / "data", extra))
        agent.wait_for_log("receiving Pyroscope profiles on")
        agent.port = port
        return agent
    return start


def event_of(request):
    parts = parse_forwarded(request)
    event = json.loads(parts["event"][1])
    tags = dict(t.split(":", 1) for t in event["tags_profiler"].split(",") if ":" in t)
    return parts, event, tags


def function_names(profile):
    return {profile.s(f.name) for f in profile.message.function}


def test_pyroscope_nodejs_client(pyroscope_js, pyroscope_agent, fake_dataway, read_pprof, tmp_path):
    agent = pyroscope_agent('    [inputs.profile.pyroscope.tags]\n      tag1 = "val1"\n')
    env = dict(os.environ, PYROSCOPE_SERVER_ADDRESS=f"http://127.0.0.1:{agent.port}",
               PYROSCOPE_APPLICATION_NAME="pyro-node-it", PYROSCOPE_FLUSH_INTERVAL_MS="2000")
    log = open(tmp_path / "node.log", "wb")
    node = subprocess.Popen(["node", str(pyroscope_js / "app.js")], env=env, stdout=log,
                            stderr=subprocess.STDOUT)

    def uploads(requests):  # not profiling_metrics lines
        return [r for r in requests if r["path"].startswith("/v1/upload/profiling")]

    def node_files(requests):
        return {name for r in uploads(requests) if forwarded_services([r]) == ["pyro-node-it"]
                for name in parse_forwarded(r) if name != "event"}
    try:
        # The client flushes a wall and a heap profile, as two uploads to the same name.
        requests = fake_dataway.wait_for(lambda rs: {"wall.pprof", "heap.pprof"} <= node_files(rs),
                                         timeout=60)
    finally:
        node.kill()
        node.wait()
        log.close()
    requests = uploads(requests)
    request = next(r for r in requests
                   if forwarded_services([r]) == ["pyro-node-it"] and "wall.pprof" in parse_forwarded(r))
    parts, event, tags = event_of(request)
    assert event["language"] == "nodejs"
    assert event["profiler"] == "pyroscope"
    assert event["format"] == "pprof"
    assert event["attachments"] == ["wall.pprof"]
    for key, value in [("service", "pyro-node-it"), ("env", "it"), ("host", "it-host"),
                       ("tag1", "val1"), ("region", "it-region"), ("spy_name", "nodespy"),
                       ("process.runtime.name", "nodejs")]:
        assert tags.get(key) == value, event["tags_profiler"]
    assert not any(k.startswith("__") for k in tags), event["tags_profiler"]
    profile = read_pprof(parts["wall.pprof"][1])
    # The Node client names functions "<file>:<function>:<line>".
    assert any(":profkitHotFunction:" in name for name in function_names(profile)), function_names(profile)
    assert profile.total() > 0
    heap_request = next(r for r in requests if "heap.pprof" in parse_forwarded(r))
    heap = read_pprof(parse_forwarded(heap_request)["heap.pprof"][1])
    assert ("space", "bytes") in heap.sample_types() or ("inuse_space", "bytes") in heap.sample_types(), \
        heap.sample_types()
    node_log = (tmp_path / "node.log").read_text(errors="replace")
    assert "rror" not in node_log, node_log


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number, data):
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(data)) + data


def push_request(labels, profiles):
    """push.v1.PushRequest{series: [{labels, samples: [{raw_profile, ID}]}]}, encoded by hand from
    the public field numbers."""
    series = b"".join(field(1, field(1, k.encode()) + field(2, v.encode())) for k, v in labels)
    series += b"".join(field(2, field(1, p) + field(2, f"id-{i}".encode())) for i, p in enumerate(profiles))
    return field(1, series)


def test_raw_http_bodies(pyroscope_agent, fake_dataway, read_pprof, pprof_pb2):
    agent = pyroscope_agent('    service = "configured-svc"\n')
    base = "/ingest?" + urllib.parse.urlencode({"from": "1700000000", "until": "1700000010123",
                                                "sampleRate": "100"})

    # Folded text (format=folded, as pyroscope-rs before 1.0 and eBPF agents send it).
    status, body = post(agent.port, base + "&" + urllib.parse.urlencode(
        {"name": "folded-app.cpu{zone=z1,__session_id__=s}", "format": "folded", "spyName": "pyspy"}),
        b"main;work;folded_hot 30\nmain;idle 10\n", "text/plain")
    assert (status, body) == (200, b"")

    # A gzipped pprof built independently with the pprof protobuf bindings.
    p = pprof_pb2.Profile()
    p.string_table.extend(["", "samples", "count", "cpu", "nanoseconds", "pprof_hot", "main"])
    p.sample_type.add(type=1, unit=2)
    p.sample_type.add(type=3, unit=4)
    p.period_type.type, p.period_type.unit, p.period = 3, 4, 10_000_000
    p.function.add(id=1, name=5)
    p.function.add(id=2, name=6)
    p.location.add(id=1).line.add(function_id=1)
    p.location.add(id=2).line.add(function_id=2)
    p.sample.add(location_id=[1, 2], value=[7, 70_000_000])
    pprof_gz = gzip.compress(p.SerializeToString())
    status, body = post(agent.port, base + "&name=pprof-app&format=pprof&spyName=gospy", pprof_gz,
                        "binary/octet-stream")
    assert (status, body) == (200, b"")

    # The Connect push API (pyroscope-rs >= 1.0, Grafana Alloy), gzip-encoded.
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=30)
    conn.request("POST", "/push.v1.PusherService/Push",
                 body=gzip.compress(push_request([("__name__", "process_cpu"), ("service_name", "x"),
                                                  ("pyroscope_spy", "pyspy"), ("zone", "z2")],
                                                 [p.SerializeToString()])),
                 headers={"Content-Type": "application/proto", "Content-Encoding": "gzip"})
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"")
    conn.close()

    # Bad requests: each answer names the problem, nothing is forwarded.
    bad = [
        ("/ingest?spyName=x", b"a 1\n", "text/plain", 400, b"name: required"),
        ("/ingest?name=a&from=tomorrow", b"a 1\n", "text/plain", 400, b"from:"),
        ("/ingest?name=a", b"no-count\n", "text/plain", 400, b"folded body: line 1"),
        ("/ingest?name=a&format=pprof", b"garbage", "binary/octet-stream", 400, b"profile:"),
        ("/ingest?name=a&format=trie", b"x", "binary/octet-stream+trie", 415, b"not supported"),
        ("/ingest?name=a", b"x" * (2 << 20), "text/plain", 413, b"body_size_limit_mb"),
        ("/push.v1.PusherService/Push", b"\xff\xff", "application/proto", 400, b"invalid_argument"),
        ("/push.v1.PusherService/Push", b"{}", "application/json", 415, b"unimplemented"),
    ]
    for path, payload, content_type, want_status, want_text in bad:
        status, body = post(agent.port, path, payload, content_type)
        assert status == want_status and want_text in body, (path, status, body)

    def uploads(rs):  # not the profiling_metrics lines of the python and golang uploads
        return [r for r in rs if r["path"].startswith("/v1/upload/profiling")]
    requests = uploads(fake_dataway.wait_for(lambda rs: len(uploads(rs)) >= 3, timeout=30))
    assert len(requests) == 3
    by_app = {}
    for request in requests:
        parts, event, tags = event_of(request)
        assert tags["service"] == "configured-svc"
        by_app[tags.get("app_name") or tags.get("input_format")] = (parts, event, tags)

    parts, event, tags = by_app["folded-app"]
    assert event["language"] == "python"
    assert event["attachments"] == ["cpu.pprof"]
    assert event["start"].startswith("2023-11-14T22:13:20") and event["end"].startswith("2023-11-14T22:13:30.123")
    assert tags["zone"] == "z1" and tags["input_format"] == "folded" and "__session_id__" not in tags
    profile = read_pprof(parts["cpu.pprof"][1])
    assert profile.sample_types() == [("samples", "count"), ("cpu", "nanoseconds")]
    stacks = {tuple(profile.frames(s)): list(s.value) for s in profile.message.sample}
    assert stacks[("folded_hot", "work", "main")] == [30, 300_000_000]

    parts, event, tags = by_app["pprof-app"]
    assert event["language"] == "golang"
    assert parts["cpu.pprof"][1] == pprof_gz
    assert "pprof_hot" in function_names(read_pprof(parts["cpu.pprof"][1]))

    parts, event, tags = by_app["push"]
    assert event["language"] == "python" and tags["zone"] == "z2"
    assert "pprof_hot" in function_names(read_pprof(parts["cpu.pprof"][1]))


def test_without_dataway_uploads_go_to_local_files(start_agent, read_pprof, tmp_path):
    # The listeners do not depend on the push endpoints (off without Dataway): the local file is
    # the durable copy, written before the 200.
    port = free_port()
    agent = start_agent(f"""
[ebpf]
enabled = false
[local]
dir = "{tmp_path / 'profiles'}"
[[inputs.profile]]
  [[inputs.profile.pyroscope]]
    url = "127.0.0.1:{port}"
""")
    agent.wait_for_log("receiving Pyroscope profiles on")
    status, body = post(port, "/ingest?" + urllib.parse.urlencode(
        {"name": "local-app.cpu", "format": "folded", "from": "1700000000", "until": "1700000010"}),
        b"main;work 30\nmain;idle 10\n", "text/plain")
    assert (status, body) == (200, b""), agent.text()
    files = list((tmp_path / "profiles" / "local-app").glob("*.pprof"))
    assert len(files) == 1, agent.text()
    profile = read_pprof(files[0].read_bytes())
    assert ("samples", "count") in profile.sample_types()
    assert "push endpoints are off" in agent.text()
    assert agent.stop() == 0, agent.text()
