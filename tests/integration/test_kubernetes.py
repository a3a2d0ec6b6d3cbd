"""Kubernetes on one machine (docs/KUBERNETES.md): real cgroups named as the kubelet names them,
a fake kubelet over HTTPS (a CA made here, bearer token checked), `profkit run` forwarding to the
fake Dataway; container and pod tags on eBPF profiles, pod tags on a dd-trace-js push from a pod
IP, the probes and /metrics."""
import http.server
import importlib.util
import json
import os
import secrets
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import REPO, TEST_RATE, free_port, parse_forwarded, require
from test_push_ddtrace_js import ddtrace_js  # noqa: F401 (fixture)

NODE = "node-it"
CLUSTER = "it-cluster"
POD_IP = "127.0.0.2"


def cgroup2_mount():
    """Where cgroup v2 is mounted (/sys/fs/cgroup/unified on hybrid hosts), from mountinfo."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] == "cgroup2":
            return Path(fields[4])
    return None


def cgroup1_pids_mount():
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] == "cgroup" and "pids" in fields[separator + 3].split(","):
            return Path(fields[4])
    return None


class Cgroups:
    """Directories made under a test-unique parent; removed leaf first at the end."""

    def __init__(self):
        self.made = []

    def make(self, path):
        path.mkdir(parents=True)
        self.made.append(path)
        return path

    def remove(self):
        for path in sorted(self.made, key=lambda p: len(p.parts), reverse=True):
            for directory in [path, *path.parents]:
                if "profkit-it-" not in str(directory):
                    break
                try:
                    directory.rmdir()
                except OSError:
                    pass


def make_certificates(directory):
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    require(shutil.which("openssl") is not None, "needs openssl")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=profkit-it-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (directory / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf")
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


class FakeKubelet:
    """GET /pods over HTTPS: the PodList when the bearer token matches, 401 otherwise."""

    def __init__(self, pod_list, token, cert, key):
        self.pod_list = json.dumps(pod_list).encode()
        self.token = token
        self.answers = []
        self.cond = threading.Condition()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                authorized = self.headers.get("Authorization") == f"Bearer {owner.token}"
                status = 200 if self.path == "/pods" and authorized else 401
                body = owner.pod_list if status == 200 else b'{"kind":"Status"}'
                with owner.cond:
                    owner.answers.append(status)
                    owner.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.answers):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"kubelet answers: {self.answers}"
                self.cond.wait(remaining)

    def stop(self):
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server = None


def container_status(name, container_id, image):
    return {"name": name, "containerID": container_id, "image": image, "ready": True,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}


def pod(name, namespace, uid, owner, labels, statuses, pod_ip=None, qos="Burstable"):
    item = {"metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": labels,
                         "ownerReferences": [dict(owner, controller=True)],
                         "managedFields": [{"manager": "kubelet"}]},
            "spec": {"nodeName": "spec-node", "containers": [{"name": s["name"]} for s in statuses]},
            "status": {"phase": "Running", "qosClass": qos, "containerStatuses": statuses}}
    if pod_ip:
        item["status"]["podIP"] = pod_ip
        item["status"]["podIPs"] = [{"ip": pod_ip}]
    return item


def event_tags(event):
    return dict(t.split(":", 1) for t in event["tags_profiler"].split(",") if ":" in t)


def ebpf_events(requests):
    """(tags, event) of every eBPF profile the fake Dataway received."""
    out = []
    for request in requests:
        if not request["path"].startswith("/v1/upload/profiling"):
            continue
        event = json.loads(parse_forwarded(request)["event"][1])
        if "cpu.pprof" in event.get("attachments", []):
            out.append((event_tags(event), event))
    return out


def with_container(container_id, service=None):
    """Whether an eBPF profile of container_id (and of service, when given) was received."""
    return lambda requests: any(
        t.get("container_id") == container_id and service in (None, t.get("service"))
        for t, _ in ebpf_events(requests))


def http_get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path; (None, error) when nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, ConnectionError) as error:
        return None, str(error)


def run_in_cgroup(cgroup_dir, command, env=None):
    """Starts `command` after moving its shell into cgroup_dir (cgroup.procs), as a runtime does
    before the container's process execs."""
    script = f'echo $$ > "{cgroup_dir}/cgroup.procs" && exec "$@"'
    return subprocess.Popen(["sh", "-c", script, "sh", *map(str, command)],
                            env=dict(os.environ, **(env or {})), stdout=subprocess.DEVNULL)


def test_pods_containers_probes_and_metrics(start_agent, fake_dataway, two_functions, tmp_path,
                                            ddtrace_js):  # noqa: F811
    v2 = cgroup2_mount()
    v1 = cgroup1_pids_mount()
    require(v2 is not None and os.access(v2, os.W_OK), "needs a writable cgroup2 mount")
    require(importlib.util.find_spec("prometheus_client") is not None,
            "needs python3-prometheus-client (the reference parser of /metrics)")
    from prometheus_client.parser import text_string_to_metric_families

    uid_a, uid_b = "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9", "1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6"
    id_a, id_b, id_c = (secrets.token_hex(32) for _ in range(3))
    tag = f"profkit-it-{secrets.token_hex(4)}"
    cgroups = Cgroups()
    # containerd with the systemd driver (cgroup v2), a Burstable pod.
    slice_a = (v2 / tag / "kubepods.slice" / "kubepods-burstable.slice" /
               f"kubepods-burstable-pod{uid_a.replace('-', '_')}.slice" / f"cri-containerd-{id_a}.scope")
    # the cgroupfs driver on the v1 pids controller (else v2), a BestEffort pod; the runtime comes
    # from the kubelet ("cri-o://").
    base_b = v1 if v1 is not None and os.access(v1, os.W_OK) else v2
    slice_b = base_b / tag / "kubepods" / "besteffort" / f"pod{uid_b}" / id_b
    # a plain Docker container, in no pod.
    slice_c = v2 / tag / "system.slice" / f"docker-{id_c}.scope"
    for path in (slice_a, slice_b, slice_c):
        cgroups.make(path)

    token_file = tmp_path / "token"
    token = secrets.token_urlsafe(24)
    token_file.write_text(token + "\n")
    ca, cert, key = make_certificates(tmp_path)
    pod_list = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
        pod("web-7d9f8b6c5d-x2k4p", "shop", uid_a, {"kind": "ReplicaSet", "name": "web-7d9f8b6c5d"},
            {"app.kubernetes.io/name": "web", "pod-template-hash": "7d9f8b6c5d",
             "tags.datadoghq.com/env": "prod", "tags.datadoghq.com/version": "1.4.2"},
            [container_status("app", f"containerd://{id_a}", "registry.example/web:1.4.2")]),
        pod("nightly-29012345-abcde", "ops", uid_b, {"kind": "Job", "name": "nightly-29012345"}, {},
            [container_status("worker", f"cri-o://{id_b}", "registry.example/batch:7")], qos="BestEffort"),
        pod("checkout-5c8d7f9b4-q7w8e", "shop", "2b3c4d5e-6f7a-4b8c-9d0e-f1a2b3c4d5e6",
            {"kind": "ReplicaSet", "name": "checkout-5c8d7f9b4"},
            {"pod-template-hash": "5c8d7f9b4", "tags.datadoghq.com/env": "prod"},
            [container_status("node", "containerd://" + "f" * 64, "registry.example/checkout:3")],
            pod_ip=POD_IP),
    ]}
    kubelet = FakeKubelet(pod_list, token, cert, key)

    http_port = free_port()
    agent = start_agent(f"""
[agent]
hostname = "it-host"
data_dir = "{tmp_path / 'data'}"
[http]
listen = "127.0.0.1:{http_port}"
[dataway]
url = "http://127.0.0.1:{fake_dataway.port}/?token=tkn_it"
[local]
dir = ""
[ebpf]
sample_rate = {TEST_RATE}
upload_interval = "2s"
[[inputs.profile]]
[kubernetes]
enabled = true
kubelet_url = "https://127.0.0.1:{kubelet.port}"
token_file = "{token_file}"
ca_file = "{ca}"
cluster_name = "{CLUSTER}"
refresh_interval = "1s"
""", env={"ENV_K8S_NODE_NAME": NODE})
    workloads = []
    try:
        agent.wait_for_log("eBPF sampling started")
        assert http_get(http_port, "/healthz")[0] == 200
        assert http_get(http_port, "/ready")[0] == 200
        kubelet.wait_for(lambda answers: 200 in answers)
        agent.wait_for_log("kubernetes: pod list from the kubelet: 3 pods, 3 containers")

        workloads = [
            run_in_cgroup(slice_a, [two_functions, "30"]),
            run_in_cgroup(slice_b, [two_functions, "30"], env={"DD_SERVICE": "batch-svc"}),
            run_in_cgroup(slice_c, [two_functions, "30"]),
        ]
        # Container c's profile of two_functions, not only of the shell that moved itself into the
        # container before its exec (a sample of that shell is a "dash" profile of the container).
        requests = fake_dataway.wait_for(
            lambda rs: all(with_container(i)(rs) for i in (id_a, id_b)) and
            with_container(id_c, service="two_functions")(rs), timeout=60)
        events = ebpf_events(requests)
        tags_a = next(t for t, _ in events if t.get("container_id") == id_a)
        assert {k: tags_a.get(k) for k in [
            "service", "env", "version", "host", "container_id", "container_runtime", "pod_uid",
            "pod_name", "namespace", "pod_namespace", "container_name", "image", "node_name",
            "cluster_name_k8s", "deployment"]} == {
            "service": "web", "env": "prod", "version": "1.4.2", "host": "it-host",
            "container_id": id_a, "container_runtime": "containerd", "pod_uid": uid_a,
            "pod_name": "web-7d9f8b6c5d-x2k4p", "namespace": "shop", "pod_namespace": "shop",
            "container_name": "app", "image": "registry.example/web:1.4.2", "node_name": NODE,
            "cluster_name_k8s": CLUSTER, "deployment": "web"}, tags_a
        tags_b = next(t for t, _ in events if t.get("container_id") == id_b)
        assert tags_b["service"] == "batch-svc", "the process's DD_SERVICE wins over the pod"
        assert {k: tags_b.get(k) for k in ["container_runtime", "pod_uid", "pod_name", "namespace",
                                           "container_name", "image", "job", "cronjob"]} == {
            "container_runtime": "cri-o", "pod_uid": uid_b, "pod_name": "nightly-29012345-abcde",
            "namespace": "ops", "container_name": "worker", "image": "registry.example/batch:7",
            "job": "nightly-29012345", "cronjob": "nightly"}, tags_b
        in_c = [t for t, _ in events if t.get("container_id") == id_c]
        assert {t["service"] for t in in_c} <= {"two_functions", "dash"}, in_c
        tags_c = next(t for t in in_c if t["service"] == "two_functions")
        assert tags_c["container_runtime"] == "docker"
        assert "pod_name" not in tags_c and "pod_uid" not in tags_c
        # Host processes (this test's own python) carry no container tags.
        assert any("container_id" not in t for t, _ in events)

        # The kubelet goes away: the agent says so once and keeps every tag it had.
        kubelet.stop()
        agent.wait_for_log("cannot refresh the pod list (keeping the last one)")
        already = len(fake_dataway.requests)
        requests = fake_dataway.wait_for(
            lambda rs: with_container(id_a)(rs[already:]) and with_container(id_c)(rs[already:]),
            timeout=30)
        after = [t for t, _ in ebpf_events(requests[already:]) if t.get("container_id") == id_a]
        assert all(t.get("pod_name") == "web-7d9f8b6c5d-x2k4p" and t.get("container_runtime") ==
                   "containerd" for t in after), after
        assert agent.text().count("cannot refresh the pod list") == 1, agent.text()

        # A tracer in the checkout pod pushes from the pod's IP: the pod's tags fill what it did
        # not send; what it sent (service, env) stays.
        env = dict(os.environ, DD_PROFILING_ENABLED="true",
                   DD_TRACE_AGENT_URL=f"http://127.0.0.1:{http_port}", DD_SERVICE="checkout-js",
                   DD_PROFILING_UPLOAD_PERIOD="5", DD_TRACE_STARTUP_LOGS="false",
                   DD_INSTRUMENTATION_TELEMETRY_ENABLED="false", PROFKIT_IT_SOURCE_ADDRESS=POD_IP)
        node = subprocess.Popen(["node", "--require", str(ddtrace_js / "source_address.js"),
                                 str(ddtrace_js / "app.js")], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        workloads.append(node)

        def pushed(requests):
            for request in requests:
                if request["path"].startswith("/v1/upload/profiling"):
                    event = json.loads(parse_forwarded(request)["event"][1])
                    if event.get("language") == "nodejs":
                        return event_tags(event)
            return None

        pushed_tags = pushed(fake_dataway.wait_for(lambda rs: pushed(rs) is not None, timeout=90))
        assert {k: pushed_tags.get(k) for k in ["service", "pod_name", "namespace", "pod_namespace",
                                                "deployment", "node_name", "cluster_name_k8s"]} == {
            "service": "checkout-js", "pod_name": "checkout-5c8d7f9b4-q7w8e", "namespace": "shop",
            "pod_namespace": "shop", "deployment": "checkout", "node_name": NODE,
            "cluster_name_k8s": CLUSTER}, pushed_tags
        assert pushed_tags.get("env") == "prod", "the pod's env fills what the client left out"

        # /metrics in the Prometheus text format, read by the reference parser. The push handler
        # counts its answer after the upload is queued, and a sender can forward it before that:
        # await the count rather than read it once.
        def metric_samples():
            status, text = http_get(http_port, "/metrics")
            assert status == 200
            families = {f.name: f for f in text_string_to_metric_families(text)}
            return families, {(s.name, tuple(sorted(s.labels.items()))): s.value
                              for f in families.values() for s in f.samples}

        deadline = time.monotonic() + 10
        families, samples = metric_samples()
        while samples.get(("profkit_push_uploads_total", (("status", "2xx"),)), 0) < 1 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
            families, samples = metric_samples()
        assert samples[("profkit_samples_total", ())] > 0
        assert samples[("profkit_dataway_uploads_total", ())] > 0
        assert samples[("profkit_push_uploads_total", (("status", "2xx"),))] >= 1
        assert samples[("profkit_kubelet_refreshes_total", (("result", "ok"),))] >= 1
        assert samples[("profkit_kubelet_refreshes_total", (("result", "failed"),))] >= 1
        assert samples[("profkit_kubernetes_containers", ())] == 3
        assert "profkit_queue_bytes" in families and families["profkit_queue_bytes"].type == "gauge"
        assert families["profkit_samples"].type == "counter"  # the parser drops _total

        # Stopping: not ready any more, then nothing answers.
        agent.proc.send_signal(15)
        seen = []
        while agent.proc.poll() is None:
            seen.append(http_get(http_port, "/ready")[0])
            time.sleep(0.002)  # polling the endpoint is what a kubelet probe does
        assert http_get(http_port, "/ready")[0] is None
        assert http_get(http_port, "/healthz")[0] is None
        # Once not ready, never ready again (a 503 while the last interval is flushed, then no
        # listener).
        first_not_ready = next((i for i, status in enumerate(seen) if status != 200), len(seen))
        assert 200 not in seen[first_not_ready:], seen
        print(f"/ready while stopping: {sorted(set(map(str, seen)))}")
    finally:
        for process in workloads:
            process.kill()
            process.wait()
        kubelet.stop()
        cgroups.remove()
