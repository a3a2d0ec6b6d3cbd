"""Delivery guarantees of the push path under faults: Dataway down, 5xx/429, kill -9 of the agent,
a full disk. Every upload answered 200 must reach Dataway (at least once)."""
import os
import subprocess
import threading
import time

import pytest

from conftest import forwarded_services, free_port, make_upload, post, push_config


def start_push_agent(start_agent, fake_dataway, data_dir, port=None, extra=""):
    port = port or free_port()
    agent = start_agent(push_config(fake_dataway.port, port, data_dir, extra))
    agent.wait_for_log("receiving profiles on")
    agent.port = port
    return agent


def test_dataway_down_then_back_loses_nothing(start_agent, fake_dataway, tmp_path):
    fake_dataway.status = 503
    agent = start_push_agent(start_agent, fake_dataway, tmp_path / "data")
    services = [f"svc{i}" for i in range(20)]
    for service in services:
        assert post(agent.port, "/profiling/v1/input", *make_upload(service))[0] == 200
    fake_dataway.wait_for(lambda rs: len(rs) >= 5, timeout=60)
    with fake_dataway.cond:
        fake_dataway.status = 429
    fake_dataway.wait_for(lambda rs: any(r["status"] == 429 for r in rs), timeout=120)
    with fake_dataway.cond:
        fake_dataway.status = 200
    requests = fake_dataway.wait_for(
        lambda rs: set(services) <= set(forwarded_services(r for r in rs if r["status"] == 200)),
        timeout=180)
    # Backoff keeps retries sane: no hammering of a failing Dataway.
    failed = sum(1 for r in requests if r["status"] != 200)
    assert failed < 400, failed
    assert agent.stop() == 0


def test_kill_9_mid_traffic_then_restart_delivers_every_acknowledged_upload(
        start_agent, fake_dataway, tmp_path):
    data_dir = tmp_path / "data"
    fake_dataway.status = 500  # nothing leaves the queue before the kill
    agent = start_push_agent(start_agent, fake_dataway, data_dir)
    acknowledged = []
    stop = threading.Event()

    def client(index):
        i = 0
        while not stop.is_set():
            service = f"k{index}-{i}"
            i += 1
            try:
                status, _ = post(agent.port, "/profiling/v1/input", *make_upload(service, b"P" * 4000),
                                 timeout=5)
            except OSError:
                return  # the agent died under us: this upload was never acknowledged
            if status == 200:
                acknowledged.append(service)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)  # no event to wait on: polling the clients' progress
    os.kill(agent.proc.pid, 9)
    agent.proc.wait()
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 200

    with fake_dataway.cond:
        fake_dataway.status = 200
    agent = start_push_agent(start_agent, fake_dataway, data_dir)
    fake_dataway.wait_for(
        lambda rs: set(acknowledged) <= set(forwarded_services(r for r in rs if r["status"] == 200)),
        timeout=120)
    assert "resuming" in agent.text()
    assert agent.stop() == 0


@pytest.fixture
def small_disk(tmp_path, root):
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_answers_503_and_recovers(start_agent, fake_dataway, small_disk):
    fake_dataway.status = 503
    agent = start_push_agent(start_agent, fake_dataway, small_disk)
    accepted, refused = [], None
    for i in range(100):
        service = f"d{i}"
        status, answer = post(agent.port, "/profiling/v1/input", *make_upload(service, b"D" * 16000))
        if status == 200:
            accepted.append(service)
        else:
            refused = (status, answer)
            break
    assert refused is not None, "a 256 KiB disk never filled up"
    assert refused[0] == 503, refused
    assert b"No space left on device" in refused[1], refused
    assert len(accepted) >= 5

    with fake_dataway.cond:
        fake_dataway.status = 200
    fake_dataway.wait_for(
        lambda rs: set(accepted) <= set(forwarded_services(r for r in rs if r["status"] == 200)),
        timeout=180)
    # Delivered records free the disk: uploads are accepted again.
    deadline = time.monotonic() + 60
    while post(agent.port, "/profiling/v1/input", *make_upload("after"))[0] != 200:
        assert time.monotonic() < deadline, "the queue never freed its disk space"
        time.sleep(0.2)  # the workers delete delivered segments asynchronously
    assert agent.stop() == 0
