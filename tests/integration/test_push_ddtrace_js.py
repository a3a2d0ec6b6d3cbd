"""A real dd-trace-js (from npm) profiling a small Node.js app pushes to profkit, which forwards to
the fake Dataway."""
import json
import os
import subprocess

import pytest

from conftest import REPO, forwarded_services, free_port, npm_packages, parse_forwarded, push_config, require

CLIENT = REPO / "tests" / "clients" / "ddtrace-js"


@pytest.fixture(scope="session")
def ddtrace_js():
    return npm_packages(CLIENT, "dd-trace", "install")


def test_ddtrace_js_uploads_arrive_at_dataway(ddtrace_js, start_agent, fake_dataway, tmp_path):
    port = free_port()
    agent = start_agent(push_config(fake_dataway.port, port, tmp_path / "data"))
    agent.wait_for_log("receiving profiles on")
    env = dict(os.environ, DD_PROFILING_ENABLED="true", DD_TRACE_AGENT_URL=f"http://127.0.0.1:{port}",
               DD_SERVICE="node-it", DD_ENV="it", DD_VERSION="1.2.3", DD_PROFILING_UPLOAD_PERIOD="5",
               DD_TRACE_STARTUP_LOGS="false", DD_INSTRUMENTATION_TELEMETRY_ENABLED="false")
    log = open(tmp_path / "node.log", "wb")
    node = subprocess.Popen(["node", str(ddtrace_js / "app.js")], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        requests = fake_dataway.wait_for(lambda rs: "node-it" in forwarded_services(rs), timeout=90)
    finally:
        node.kill()
        node.wait()
        log.close()
    request = next(r for r in requests if forwarded_services([r]) == ["node-it"])
    parts = parse_forwarded(request)
    event = json.loads(parts["event"][1])
    assert event["language"] == "nodejs"
    assert event["format"] == "pprof"
    assert "wall.pprof" in event["attachments"]
    for name in event["attachments"]:
        assert name in parts, name
        assert parts[name][1][:2] == b"\x1f\x8b" or len(parts[name][1]) > 0
    tags = event["tags_profiler"].split(",")
    for tag in ["service:node-it", "env:it", "version:1.2.3", "host:it-host"]:
        assert tag in tags, event["tags_profiler"]
    node_log = (tmp_path / "node.log").read_text(errors="replace")
    assert "Error" not in node_log, node_log
