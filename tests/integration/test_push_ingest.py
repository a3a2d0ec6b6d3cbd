"""The push endpoint end to end: real profkit, uploads over HTTP, a fake Dataway recording what is
forwarded. No eBPF (ebpf.enabled = false)."""
import json
import random

import pytest

from conftest import (FIXTURE_CONTENT_TYPE, fixture_upload, forwarded_services, free_port,
                      make_upload, parse_forwarded, post, push_config)


@pytest.fixture
def push_agent(start_agent, fake_dataway, tmp_path):
    def start(extra=""):
        port = free_port()
        agent = start_agent(push_config(fake_dataway.port, port, tmp_path / "data", extra))
        agent.wait_for_log("receiving profiles on")
        agent.port = port
        return agent
    return start


def test_fixture_is_forwarded_byte_for_byte_with_datakit_metadata(push_agent, fake_dataway):
    agent = push_agent('  [inputs.profile.tags]\n    team = "a,b"\n    env = "prod"\n')
    body = fixture_upload()
    status, answer = post(agent.port, "/profiling/v1/input", body, FIXTURE_CONTENT_TYPE, chunked=True)
    assert status == 200, answer
    assert json.loads(answer)["content"]["profileID"]

    is_upload = lambda r: r["path"].startswith("/v1/upload/profiling")  # not profiling_metrics
    request = next(filter(is_upload, fake_dataway.wait_for(lambda rs: any(map(is_upload, rs)), timeout=30)))
    assert request["path"] == "/v1/upload/profiling?token=tkn_it"
    forwarded = parse_forwarded(request)
    assert list(forwarded) == ["event", "space.pprof", "wall.pprof", "events.pprof"]
    original = {}
    boundary = b"6f6355e8d3c54f4b"
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, data = chunk[2:].split(b"\r\n\r\n", 1)
        original[head.decode().split('name="', 1)[1].split('"', 1)[0]] = (head.decode(), data[:-2])
    for name in ["space.pprof", "wall.pprof", "events.pprof"]:
        assert forwarded[name][1] == original[name][1], name
        assert 'filename="%s"' % name in forwarded[name][0]

    event = json.loads(forwarded["event"][1])
    client_event = json.loads(original["event"][1])
    assert event["language"] == "nodejs"
    assert event["format"] == "pprof"
    assert event["attachments"] == ["space.pprof", "wall.pprof", "events.pprof"]
    assert event["start"] == client_event["start"] and event["end"] == client_event["end"]
    assert event["info"] == client_event["info"]
    tags = event["tags_profiler"].split(",")
    assert "service:node-demo" in tags
    assert "env:prod" in tags and "env:dev" not in tags  # [inputs.profile.tags] override
    assert "team:a_b" in tags  # commas cannot survive in the tag string
    assert "host:it-host" in tags  # filled: the client sent none


def test_bad_bodies_get_400_with_a_reason_and_nothing_is_forwarded(push_agent, fake_dataway):
    agent = push_agent()
    body = fixture_upload()
    cases = [
        (body[: len(body) // 2], FIXTURE_CONTENT_TYPE),          # truncated
        (b"{}", "application/json"),                               # not multipart
        (make_upload("x")[0].replace(b'name="event"', b'name="other"').replace(
            b'filename="event.json"', b'filename="other.json"'), make_upload("x")[1]),  # no event
        (make_upload("x")[0].replace(b'"attachments"', b'attachments'), make_upload("x")[1]),
        (bytes(random.Random(7).getrandbits(8) for _ in range(20000)), FIXTURE_CONTENT_TYPE),
    ]
    for data, content_type in cases:
        status, answer = post(agent.port, "/profiling/v1/input", data, content_type)
        assert status == 400, (status, answer)
        assert answer.strip() and b"\n" not in answer.strip(), answer
    # Still healthy, and only the good upload is forwarded.
    status, _ = post(agent.port, "/profiling/v1/input", *make_upload("good"))
    assert status == 200
    requests = fake_dataway.wait_for(lambda rs: len(rs) >= 1, timeout=30)
    assert forwarded_services(requests) == ["good"]


def test_oversize_body_gets_413(push_agent):
    agent = push_agent("  body_size_limit_mb = 1\n")
    body, content_type = make_upload("big", payload=b"x" * (2 << 20))
    for chunked in (False, True):
        status, answer = post(agent.port, "/profiling/v1/input", body, content_type, chunked=chunked)
        assert status == 413, answer
        assert b"body_size_limit_mb" in answer


def test_tracer_endpoints_answer_cheaply(push_agent):
    agent = push_agent()
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
    conn.request("GET", "/info")
    info = conn.getresponse()
    assert info.status == 200
    assert "/profiling/v1/input" in json.loads(info.read())["endpoints"]
    for method, path in [("PUT", "/v0.4/traces"), ("POST", "/v0.5/traces"), ("POST", "/v0.7/config"),
                         ("POST", "/telemetry/proxy/api/v2/apmtelemetry")]:
        conn.request(method, path, body=b"[]", headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, path
    conn.close()
