"""Shared fixtures for profkit's integration tests.

These tests run real processes, load BPF programs and talk to a fake Dataway on loopback. They need
root. Under CI=true a missing prerequisite is a failure, never a skip.
"""
import gzip
import http.server
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PROFKIT_BUILD_DIR", REPO / "build"))
PROFKIT = BUILD / "profkit"
IN_CI = os.environ.get("CI") == "true"


def require(condition, reason):
    """Skips outside CI; fails in CI, where every prerequisite must be installed."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def profkit_bin():
    require(PROFKIT.exists(), f"{PROFKIT} is not built (scripts/build.sh)")
    return PROFKIT


@pytest.fixture(scope="session")
def root():
    require(os.geteuid() == 0, "needs root to load BPF programs")
    require(Path("/sys/kernel/btf/vmlinux").exists(), "needs kernel BTF (/sys/kernel/btf/vmlinux)")


@pytest.fixture(scope="session")
def go_tool():
    go = shutil.which("go")
    require(go is not None, "needs Debian's golang-go for `go tool pprof`")
    return go


@pytest.fixture(scope="session")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="profkit-it-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def two_functions(workdir):
    """The C workload with a known split of CPU time, built with frame pointers."""
    cc = shutil.which("cc") or shutil.which("gcc")
    require(cc is not None, "needs a C compiler")
    out = workdir / "two_functions"
    subprocess.run(
        [cc, "-O1", "-g", "-pthread", "-fno-omit-frame-pointer", "-fno-inline", "-o", out,
         REPO / "tests/workloads/two_functions.c"],
        check=True)
    return out


@pytest.fixture(scope="session")
def pprof_pb2(workdir):
    """Python bindings for vendor/pprof/profile.proto, generated with Debian's protoc."""
    protoc = shutil.which("protoc")
    require(protoc is not None, "needs protobuf-compiler")
    out = workdir / "pb"
    out.mkdir(exist_ok=True)
    proto_dir = REPO / "vendor/pprof"
    subprocess.run([protoc, f"-I{proto_dir}", f"--python_out={out}", proto_dir / "profile.proto"], check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("profile_pb2")
    except ImportError as error:
        require(False, f"needs python3-protobuf: {error}")


class Pprof:
    """A decoded pprof with helpers to read stacks as function names (innermost first)."""

    def __init__(self, pb2, data):
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        self.message = pb2.Profile()
        self.message.ParseFromString(data)
        p = self.message
        self.strings = list(p.string_table)
        self.functions = {f.id: f for f in p.function}
        self.locations = {loc.id: loc for loc in p.location}
        self.mappings = {m.id: m for m in p.mapping}

    def s(self, index):
        return self.strings[index]

    def sample_types(self):
        return [(self.s(t.type), self.s(t.unit)) for t in self.message.sample_type]

    def frames(self, sample):
        """Function names of a sample, innermost first, inlined functions expanded."""
        names = []
        for location_id in sample.location_id:
            for line in self.locations[location_id].line:
                names.append(self.s(self.functions[line.function_id].name))
        return names

    def user_frames(self, sample):
        """frames() without the kernel's: what the process itself was running."""
        names = []
        for location_id in sample.location_id:
            location = self.locations[location_id]
            mapping = self.mappings.get(location.mapping_id)
            if mapping is not None and self.s(mapping.filename) == "[kernel.kallsyms]":
                continue
            for line in location.line:
                names.append(self.s(self.functions[line.function_id].name))
        return names

    def labels(self, sample):
        out = {}
        for label in sample.label:
            out[self.s(label.key)] = self.s(label.str) if label.str else label.num
        return out

    def total(self, index=0):
        return sum(sample.value[index] for sample in self.message.sample)

    def leaf_share(self, function):
        """Share (0..1) of sample counts whose innermost user-space frame is `function`: an
        interrupt or page fault taken while it runs (many on a host busy creating processes) is
        still its time."""
        total = self.total()
        hits = sum(s.value[0] for s in self.message.sample if self.user_frames(s)[:1] == [function])
        return hits / total if total else 0.0


@pytest.fixture(scope="session")
def read_pprof(pprof_pb2):
    return lambda data: Pprof(pprof_pb2, data)


# Tests sample faster than the 99 Hz default: with ~2,000 samples the statistical error of a 70%
# share is about 1 point, so a ±5-point assertion tests profkit, not luck.
TEST_RATE = 499


def cpu_seconds(stdout):
    """The CPU time tests/workloads/two_functions reports at exit (summed over several runs)."""
    values = [float(line.split("=", 1)[1]) for line in stdout.splitlines() if line.startswith("cpu_seconds=")]
    assert values, f"workload printed no cpu_seconds: {stdout!r}"
    return sum(values)


def npm_packages(directory, package, command="ci"):
    """Installs directory's npm packages (package.json, lockfile) unless `package` is there already;
    fails (CI) or skips without Debian's nodejs and npm or when the install fails."""
    require(shutil.which("node") and shutil.which("npm"), "needs Debian's nodejs and npm")
    if not (directory / "node_modules" / package).exists():
        result = subprocess.run(["npm", command, "--no-audit", "--no-fund", "--loglevel=error"],
                                cwd=directory, capture_output=True, text=True, timeout=600)
        require(result.returncode == 0, f"npm {command} in {directory} failed: {result.stderr[-2000:]}")
    return directory


def process_cpu_seconds(pid):
    """utime + stime of a live process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_sample_count(samples, cpu, rate):
    """One sample per 1/rate s of CPU time: a missing or doubled sample stream shows up here."""
    expected = cpu * rate
    assert 0.85 * expected <= samples <= 1.10 * expected, f"{samples} samples for {cpu:.2f} s of CPU at {rate} Hz"


def collapsed_counts(text):
    """Parses collapsed stacks into a list of (frames root-first, count)."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        stacks.append((stack.split(";"), int(count)))
    return stacks


class FakeDataway:
    """Records every request on 127.0.0.1; answers with the status the test chooses."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.cond = threading.Condition()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with owner.cond:
                    status = owner.status
                    reply = owner.election_reply(self.path)
                    owner.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "status": status})
                    owner.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # Dataway's leader election (docs/datakit-protocol.md §4): what POST /v1/election (candidate) and
    # /v1/election/heartbeat (leader) answer; tests change these under `cond`.
    election_status = "defeat"
    heartbeat_status = "success"
    election_interval = 1

    def election_reply(self, path):
        if not path.startswith("/v1/election"):
            return b""
        import json
        heartbeat = path.startswith("/v1/election/heartbeat")
        status = self.heartbeat_status if heartbeat else self.election_status
        return json.dumps({"content": {"status": status, "incumbency_id": "other-host",
                                       "interval": self.election_interval}}).encode()

    def set_election(self, **answers):
        """e.g. set_election(election_status="success"): changes what the election endpoints answer."""
        with self.cond:
            for key, value in answers.items():
                setattr(self, key, value)

    def wait_for(self, predicate, timeout):
        """Waits until predicate(requests) is true; returns the requests."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.requests):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out; fake Dataway got {len(self.requests)} requests")
                self.cond.wait(remaining)
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_dataway():
    dataway = FakeDataway()
    yield dataway
    dataway.close()


class Agent:
    """`profkit run` in the background; stderr captured to a file the test can wait on."""

    def __init__(self, binary, config_path, log_path, env=None, log_level="info"):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([binary, "--log-level", log_level, "run", "--config", config_path],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=None if env is None else dict(os.environ, **env))

    def text(self):
        return Path(self.log_path).read_text(errors="replace")

    def wait_for_log(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited ({self.proc.returncode}):\n{self.text()}")
            time.sleep(0.05)  # polling a log file: there is no event to wait on
        raise AssertionError(f"agent never logged {needle!r}:\n{self.text()}")

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def start_agent(profkit_bin, root, tmp_path):
    agents = []

    def start(config_text, env=None, log_level="info"):
        config_path = tmp_path / f"profkit-{len(agents)}.toml"
        config_path.write_text(config_text)
        agent = Agent(profkit_bin, config_path, tmp_path / f"agent-{len(agents)}.log", env, log_level)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.kill()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocatedFrame:
    """One frame of a pprof sample with where it points: the mapping file ("" for mapping 0, the
    interpreted-language frames) and the function's file, start line and the sampled line."""

    __slots__ = ("name", "filename", "start_line", "line", "mapping_file")

    def __init__(self, name, filename, start_line, line, mapping_file):
        self.name, self.filename, self.start_line, self.line = name, filename, start_line, line
        self.mapping_file = mapping_file

    @property
    def interpreted(self):
        return self.mapping_file == ""

    def __repr__(self):
        where = self.mapping_file or "py"
        return f"{self.name}@{self.filename}:{self.line}({where})"


def located_frames(profile, sample):
    """Frames of a pprof sample, innermost first, inlined functions expanded."""
    frames = []
    for location_id in sample.location_id:
        location = profile.locations[location_id]
        mapping = profile.mappings.get(location.mapping_id)
        mapping_file = profile.s(mapping.filename) if mapping is not None else ""
        if location.mapping_id != 0 and not mapping_file:
            mapping_file = f"<mapping {location.mapping_id}>"
        for line in location.line:
            function = profile.functions[line.function_id]
            frames.append(LocatedFrame(profile.s(function.name), profile.s(function.filename),
                                       function.start_line, line.line, mapping_file))
        if not location.line:
            frames.append(LocatedFrame(f"0x{location.address:x}", "", 0, 0, mapping_file))
    return frames


# --- push endpoint (/profiling/v1/input) helpers ---

FIXTURES = REPO / "tests" / "data" / "ingest"
FIXTURE_CONTENT_TYPE = "multipart/form-data; boundary=6f6355e8d3c54f4b"


def fixture_upload():
    """The captured dd-trace-js 5.132 multipart body."""
    return (FIXTURES / "ddtrace-js-5.132-push.multipart").read_bytes()


def make_upload(service, payload=b"PPROF", boundary="itboundary"):
    """A minimal v4 upload (event.json + one attachment) for `service`."""
    event = ('{"attachments":["cpu.pprof"],"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z",'
             f'"family":"go","version":"4","tags_profiler":"service:{service},env:it"}}').encode()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"event\"; filename=\"event.json\"\r\n"
            "Content-Type: application/json\r\n\r\n").encode() + event + \
           (f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"cpu.pprof\"; "
            "filename=\"cpu.pprof\"\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(port, path, body, content_type, chunked=False, timeout=30):
    """POSTs to profkit; returns (status, body bytes)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if chunked:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", content_type)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for i in range(0, len(body), 4096):
                piece = body[i:i + 4096]
                conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            conn.send(b"0\r\n\r\n")
        else:
            conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def parse_forwarded(request):
    """The parts of a request the fake Dataway received: {name: (headers, data)} in order."""
    content_type = request["headers"]["Content-Type"]
    boundary = content_type.split("boundary=", 1)[1].encode()
    parts = {}
    for chunk in request["body"].split(b"--" + boundary)[1:-1]:
        head, data = chunk[2:].split(b"\r\n\r\n", 1)
        data = data[:-2]
        headers = head.decode()
        name = headers.split('name="', 1)[1].split('"', 1)[0]
        parts[name] = (headers, data)
    return parts


def forwarded_services(requests):
    """service tag of every upload the fake Dataway received (with repeats)."""
    import json
    services = []
    for request in requests:
        if not request["path"].startswith("/v1/upload/profiling"):
            continue
        event = json.loads(parse_forwarded(request)["event"][1])
        tags = dict(t.split(":", 1) for t in event["tags_profiler"].split(",") if ":" in t)
        services.append(tags.get("service"))
    return services


def push_config(dataway_port, http_port, data_dir, extra=""):
    """An agent that only receives pushes (no eBPF) and forwards them to the fake Dataway."""
    return f"""
[agent]
data_dir = "{data_dir}"
hostname = "it-host"
[http]
listen = "127.0.0.1:{http_port}"
[dataway]
url = "http://127.0.0.1:{dataway_port}/?token=tkn_it"
[local]
dir = ""
[ebpf]
enabled = false
[[inputs.profile]]
{extra}
"""
