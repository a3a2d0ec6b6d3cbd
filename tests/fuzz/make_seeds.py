#!/usr/bin/env python3
"""Regenerates the seed corpora under tests/fuzz/corpus/ from real inputs: the repository's
test data (a dd-trace-js upload, a kubelet pod list, CPython _Py_DebugOffsets, a record file),
this host's CPython line tables and /proc files, and small ELF files compiled from
tests/data/symbolize. Run it from the repository root when a decoder's input format grows; the
fuzzers' own findings (crash regressions) are added next to these by hand."""
import gzip
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests/fuzz/corpus")


def put(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def multipart_parts(body, boundary):
    """(headers, data) of each part of a multipart body."""
    parts = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        parts.append((head.decode(), data[:-2]))
    return parts


def ingest_seeds():
    body = read("tests/data/ingest/ddtrace-js-5.132-push.multipart")
    headers = read("tests/data/ingest/ddtrace-js-5.132-push.headers").decode()
    content_type = re.search(r"Content-Type: (.*)", headers).group(1).strip()
    boundary = content_type.split("boundary=")[1].encode()
    put("multipart_upload", "ddtrace-js-5.132", content_type.encode() + b"\n" + body)
    put("multipart_upload", "ddtrace-js-5.132-gzip",
        content_type.encode() + b"\n" + gzip.compress(body, mtime=0))
    legacy = (b"--b\r\nContent-Disposition: form-data; name=\"tags[]\"\r\n\r\nservice:web\r\n"
              b"--b\r\nContent-Disposition: form-data; name=\"tags[]\"\r\n\r\nlanguage:python\r\n"
              b"--b\r\nContent-Disposition: form-data; name=\"data[cpu.pprof]\"; "
              b"filename=\"cpu.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\nxx\r\n"
              b"--b--\r\n")
    put("multipart_upload", "legacy-tags", b"multipart/form-data; boundary=b\n" + legacy)
    for head, data in multipart_parts(body, boundary):
        name = re.search(r'name="([^"]*)"', head).group(1)
        if name == "event":
            put("event_json", "ddtrace-js-5.132", data)
        elif name.endswith(".pprof"):
            put("pprof_sums", "ddtrace-js-" + name, data)
    put("event_json", "minimal", '{"attachments":["cpu.pprof"],"family":"python",'
        '"tags_profiler":"service:a,env:b","start":"2026-01-01T00:00:00Z",'
        '"end":"2026-01-01T00:01:00Z","version":"4"}')
    put("event_json", "tags-array", '{"family":"go","tags":["service:x","k:v"],"version":"4"}')


def pyroscope_seeds():
    folded = "main;work;compute 120\nmain;work;io 30\nmain;idle 5\n"
    for flags, name in ((0, "folded"), (2, "folded-cpu"), (8, "folded-rate")):
        put("pyroscope_folded", name, bytes([flags]) + folded.encode())
    put("pyroscope_folded", "lines", b"\x01main;work;compute\nmain;idle\nmain;work;compute\n")
    # push.v1.PushRequest encoded with protoc from text format (userspace/pyroscope/push.proto).
    profile = None
    for head, data in multipart_parts(read("tests/data/ingest/ddtrace-js-5.132-push.multipart"),
                                      b"6f6355e8d3c54f4b"):
        if 'name="wall.pprof"' in head:
            profile = data
    escaped = "".join("\\%03o" % b for b in profile)
    text = ('series { labels { name: "__name__" value: "process_cpu" } '
            'labels { name: "service_name" value: "checkout" } '
            'labels { name: "env" value: "prod" } '
            'samples { raw_profile: "%s" ID: "1" } }' % escaped)
    encoded = subprocess.run(
        ["protoc", "--proto_path", os.path.join(ROOT, "userspace/pyroscope"),
         "--encode=profkit.pyroscope.PushRequest", "push.proto"],
        input=text.encode(), capture_output=True, check=True).stdout
    put("pyroscope_push", "one-series", encoded)


def config_seeds():
    put("config_toml", "profkit.toml", read("conf/profkit.toml"))
    put("config_toml", "inputs", """
[agent]
hostname = "node-1"
[http]
listen = "0.0.0.0:9529"
[dataway]
url = "https://openway.example.com?token=tkn_x"
[ebpf]
sample_rate = 49
upload_interval = "10s"
[inputs.profile]
enabled = true
endpoints = ["/profiling/v1/input"]
[inputs.profile.tags]
cluster = "c1"
[[inputs.profile.pyroscope]]
url = "0.0.0.0:4040"
service = "py"
[[inputs.profile.go]]
url = "http://127.0.0.1:6060"
service = "go"
[kubernetes]
enabled = true
""")


def python_seeds():
    for version in ("3.14.10", "3.15.2"):
        data = read("tests/data/python/debug_offsets_%s.bin" % version)
        put("python_debug_offsets", version, data)
    put("python_debug_offsets", "version-string", b"3.11.2 (main, Mar 13 2023, 12:18:29)")
    put("python_debug_offsets", "file-name", b"/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0")
    # Line tables of real functions: co_linetable is the 3.11+ location table, co_lnotab the
    # ≤ 3.9 format (this interpreter still computes it).
    script = r'''
import sys, struct, warnings, inspect, json
warnings.simplefilter("ignore")
def sample(a, b=2):
    total = 0
    for i in range(a):
        if i % 3:
            total += i * b
        else:
            total -= 1
    return total
out = []
for f in (sample, json.dumps, inspect.getsource):
    c = f.__code__
    out.append((c.co_firstlineno, c.co_linetable.hex(), c.co_lnotab.hex()))
print(json.dumps(out))
'''
    import json
    tables = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True,
                                       check=True).stdout)
    for n, (first, linetable, lnotab) in enumerate(tables):
        head = lambda fmt: bytes([fmt]) + struct.pack("<iq", first, 12)
        put("python_line_table", "location-%d" % n, head(2) + bytes.fromhex(linetable))
        put("python_line_table", "lnotab-%d" % n, head(0) + bytes.fromhex(lnotab))


def code_object_seeds():
    """A live code object of this host's CPython (3.11 on Debian 12) and the str and bytes objects
    it points to, copied from the interpreter's own memory and relocated to the fuzz target's
    address space (the code object at 0, its pointers rewritten to where the copies land)."""
    script = r'''
import ctypes, struct, sys
def sample(a):
    return a + 1
code = sample.__code__
def raw(obj):
    return bytearray(ctypes.string_at(id(obj), sys.getsizeof(obj)))
image = raw(code)
for ref in (code.co_name, code.co_qualname, code.co_filename, code.co_linetable):
    at = image.find(struct.pack("<Q", id(ref)))
    while at >= 0:
        struct.pack_into("<Q", image, at, len(image))
        at = image.find(struct.pack("<Q", id(ref)), at + 8)
    image += raw(ref)
sys.stdout.buffer.write(bytes([sys.version_info.minor - 8]) + bytes(image))
'''
    image = subprocess.run(["python3", "-c", script], capture_output=True, check=True).stdout
    put("python_code_object", "python3-%d-function" % (8 + image[0]), image)


def record_seeds():
    data = read("tests/data/replay/sha256sum.pkrf")
    offset, kinds = 8, {}
    while offset + 8 <= len(data):
        kind, length = data[offset], struct.unpack_from("<I", data, offset + 4)[0]
        payload = data[offset + 8:offset + 8 + length]
        offset += 8 + length
        if kind != 1 or len(payload) < 4:
            continue
        record_type = struct.unpack_from("<I", payload)[0]
        if kinds.get(record_type, 0) < 3:
            kinds[record_type] = kinds.get(record_type, 0) + 1
            put("ring_record", "type%d-%d" % (record_type, kinds[record_type]), payload)
    put("record_file", "sha256sum-head", data[:6000])


def proc_seeds():
    with open("/proc/self/maps", "rb") as f:
        put("proc_files", "maps", b"\x00" + f.read())
    with open("/proc/self/stat", "rb") as f:
        put("proc_files", "stat", b"\x01" + f.read())
    put("proc_files", "stat-odd-comm", b"\x01" + b"42 (a) b) (c) S 1 42 42 0 -1 4194560 "
        + b"0 " * 15 + b"123456 0 0\n")
    put("proc_files", "environ",
        b"\x02PATH=/usr/bin\0DD_SERVICE=web\0DD_ENV=prod\0OTEL_SERVICE_NAME=otel\0DD_VERSION=1\0")
    put("proc_files", "cmdline", b"\x03/usr/bin/python3\0-u\0/srv/app/main.py\0--port\0" b"8080\0")
    put("cgroup", "containerd-k8s",
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8695_"
        "a4b3c2d1e0f9.slice/cri-containerd-" + "a" * 64 + ".scope\n")
    put("cgroup", "docker", "12:memory:/docker/" + "0123456789abcdef" * 4 + "\n"
        "11:cpu,cpuacct:/docker/" + "0123456789abcdef" * 4 + "\n")
    put("cgroup", "crio-v1", "0::/kubepods/besteffort/pod0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9/"
        "crio-" + "b" * 64 + "\n")
    put("cgroup", "host", "0::/init.scope\n")
    put("kubelet_pod_list", "pods", read("tests/data/kubelet/pods.json"))


def disk_queue_seeds():
    def record(payload):
        length = struct.pack("<I", len(payload))
        return b"PKQ1" + length + struct.pack("<I", zlib.crc32(length + payload))
    records = [record(b"/v1/write/profiling\n" + b"x" * 40) + b"/v1/write/profiling\n" + b"x" * 40,
               record(b"second") + b"second"]
    clean = b"".join(records)
    # Byte 0: bit 0 fixes checksums, bit 1 releases the first lease; byte 1: where to split.
    put("disk_queue_recovery", "two-records", b"\x00\xff" + clean)
    put("disk_queue_recovery", "split", b"\x00\x80" + clean + records[0])
    put("disk_queue_recovery", "torn-tail", b"\x02\xff" + clean + records[1][:9])
    put("disk_queue_recovery", "corrupt-middle",
        b"\x00\xff" + records[0][:20] + b"garbage" + records[0][20:] + records[1])


def elf_seeds():
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(ROOT, "tests/data/symbolize")
        unwind = os.path.join(ROOT, "tests/data/unwind/unwind_fixture.c")
        builds = {
            "gcc-O1-g": ["gcc", "-O1", "-g", "-o", "{out}", src + "/fixture_main.c"],
            "gcc-O2-stripped": ["gcc", "-O2", "-o", "{out}", src + "/fixture_main.c"],
            "clang-O1-g-pie": ["clang", "-O1", "-g", "-fPIE", "-pie", "-o", "{out}",
                               src + "/fixture_main.c"],
            "cfi-object-O1": ["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-c", "-o", "{out}",
                              src + "/cfi_fixture.c"],
            "unwind-fixture-O2": ["gcc", "-O2", "-g1", "-o", "{out}", unwind],
        }
        for name, command in builds.items():
            out = os.path.join(tmp, name)
            subprocess.run([c.format(out=out) for c in command], check=True)
            subprocess.run(["strip", "--strip-unneeded", "-R", ".comment", out]
                           if "stripped" in name else ["true"], check=True)
            with open(out, "rb") as f:
                data = f.read()
            put("elf_symbolize", name, data)
            put("unwind_table", name, data)


if __name__ == "__main__":
    ingest_seeds()
    pyroscope_seeds()
    config_seeds()
    python_seeds()
    code_object_seeds()
    record_seeds()
    proc_seeds()
    disk_queue_seeds()
    elf_seeds()
