"""deploy/: the manifests validated offline against the Kubernetes schemas (npm kubernetes-models),
and their env, mounts, ports and probes checked against what profkit reads (docs/KUBERNETES.md).
Needs no root and no cluster."""
import configparser
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, npm_packages, require

DEPLOY = REPO / "deploy"
MODELS = REPO / "tests" / "clients" / "kubernetes-models"
# Environment variables profkit reads (userspace/config/kubernetes_config.cc).
PROFKIT_ENV = {"ENV_DATAWAY", "ENV_K8S_NODE_IP", "ENV_K8S_NODE_NAME", "ENV_CLUSTER_NAME_K8S",
               "HOST_PROC", "KUBERNETES_SERVICE_HOST"}
LEAST_PRIVILEGE = ["BPF", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE", "CHECKPOINT_RESTORE",
                   "DAC_READ_SEARCH"]


@pytest.fixture(scope="module")
def documents():
    import yaml
    return [d for d in yaml.safe_load_all((DEPLOY / "profkit.yaml").read_text()) if d]


def by_kind(documents, kind):
    return next(d for d in documents if d["kind"] == kind)


@pytest.fixture(scope="module")
def kubernetes_models():
    return npm_packages(MODELS, "kubernetes-models") / "validate.mjs"


def validate(kubernetes_models, documents):
    return subprocess.run(["node", str(kubernetes_models)], input=json.dumps(documents),
                          capture_output=True, text=True, timeout=120)


def test_manifests_match_the_kubernetes_schemas(kubernetes_models, documents):
    result = validate(kubernetes_models, documents)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = sorted(line.split()[1].split("/")[0] for line in result.stdout.splitlines())
    assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                            "ConfigMap", "Service", "DaemonSet"])


def test_the_validator_rejects_a_broken_manifest(kubernetes_models, documents):
    broken = json.loads(json.dumps(by_kind(documents, "DaemonSet")))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9529"
    result = validate(kubernetes_models, [broken])
    assert result.returncode == 1
    assert "containerPort must be integer" in result.stdout


def test_daemonset_env_mounts_ports_and_probes_match_the_config(documents):
    config_map = by_kind(documents, "ConfigMap")
    config = tomllib.loads(config_map["data"]["profkit.toml"])
    daemonset = by_kind(documents, "DaemonSet")
    pod = daemonset["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["hostPID"] is True
    assert pod["serviceAccountName"] == by_kind(documents, "ServiceAccount")["metadata"]["name"]
    assert {"operator": "Exists"} in pod["tolerations"]
    assert container["securityContext"]["privileged"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]

    env = {e["name"]: e for e in container["env"]}
    assert set(env) <= PROFKIT_ENV, set(env) - PROFKIT_ENV
    assert env["ENV_K8S_NODE_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert env["ENV_K8S_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    source = (REPO / "userspace/config/kubernetes_config.cc").read_text()
    for name in env:
        assert f'"{name}"' in source, f"profkit does not read {name}"

    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    host_paths = {volumes[name]["hostPath"]["path"]: mount["mountPath"]
                  for name, mount in mounts.items() if "hostPath" in volumes[name]}
    assert host_paths["/proc"] == env["HOST_PROC"]["value"]
    assert host_paths["/sys/kernel/btf"] == "/sys/kernel/btf"
    assert host_paths["/sys/fs/cgroup"] == "/sys/fs/cgroup"
    assert host_paths[config["agent"]["data_dir"]] == config["agent"]["data_dir"], \
        "the queue's data_dir is a hostPath, so it survives the pod"
    config_path = container["args"][container["args"].index("--config") + 1]
    config_mount = next(m for m in mounts.values() if volumes[m["name"]].get("configMap"))
    assert str(Path(config_path).parent) == config_mount["mountPath"]
    assert volumes[config_mount["name"]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert Path(config_path).name in config_map["data"]

    port = int(config["http"]["listen"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == port
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    service = by_kind(documents, "Service")
    assert service["spec"]["internalTrafficPolicy"] == "Local"
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"].items() <= pod.get("nodeSelector", {}).items() or \
        service["spec"]["selector"].items() <= daemonset["spec"]["template"]["metadata"]["labels"].items()
    assert config["inputs"]["profile"][0]["endpoints"] == ["/profiling/v1/input"]
    assert config["kubernetes"]["enabled"] == "auto"

    # The least-privilege variant is documented beside the default.
    text = (DEPLOY / "profkit.yaml").read_text()
    for capability in LEAST_PRIVILEGE:
        assert f'"{capability}"' in text

    rules = by_kind(documents, "ClusterRole")["rules"]
    assert rules == [{"apiGroups": [""], "resources": ["nodes/proxy", "nodes/pods"], "verbs": ["get"]}]


def test_configmap_keys_are_documented_config_keys(documents):
    """Every key of the ConfigMap's profkit.toml is one conf/profkit.toml documents."""
    documented = (REPO / "conf/profkit.toml").read_text()
    config = tomllib.loads(by_kind(documents, "ConfigMap")["data"]["profkit.toml"])

    def keys(table, prefix=""):
        for key, value in table.items():
            if isinstance(value, dict):
                yield from keys(value, f"{prefix}{key}.")
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for item in value:
                    yield from keys(item, f"{prefix}{key}.")
            else:
                yield prefix, key

    for prefix, key in keys(config):
        assert f"{key} =" in documented, f"{prefix}{key} is not in conf/profkit.toml"


def test_systemd_unit_runs_the_agent_with_a_config():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(DEPLOY / "profkit.service")
    exec_start = unit["Service"]["ExecStart"].split()
    assert exec_start[:2] == ["/usr/local/bin/profkit", "run"]
    assert exec_start[exec_start.index("--config") + 1] == "/etc/profkit/profkit.toml"
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    if shutil.which("systemd-analyze"):
        result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(DEPLOY / "profkit.service")],
                                capture_output=True, text=True)
        # The binary is not installed here: only complaints about it are expected.
        problems = [line for line in result.stderr.splitlines()
                    if line.strip() and "/usr/local/bin/profkit" not in line and "profkit.service" not in line]
        assert not problems, result.stderr


def test_dockerfile_builds_with_the_project_scripts():
    text = (DEPLOY / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert stages == ["FROM debian:bookworm AS build", "FROM debian:bookworm-slim"]
    assert "scripts/install-deps.sh" in text and "scripts/build.sh" in text
    assert "COPY --from=build /src/build/profkit /usr/local/bin/profkit" in text
