"""Tier: lab, real Kubernetes. ``hybridctl up`` builds a real cluster; nothing on Linux is emulated.

Real: the unmodified ``hybridctl`` CLI (a subprocess) over SSH to two Debian 12 hosts booted by
systemd-nspawn (systemd as PID 1, real sshd, apt, units); apt installing kubeadm/kubelet/kubectl and
kubernetes-cni from the signed lab repository; containerd 2.4.2, runc 1.2.6 and the CNI plugins from the
lab mirror's release files; ``kubeadm init`` and ``kubeadm join``; kube-apiserver, etcd,
kube-controller-manager, kube-scheduler as static pods, kube-proxy (iptables) and CoreDNS, all pulled from
the lab registry and run by containerd and runc; the controller-manager allocating the pod CIDRs
hybridctl reads; hybridctl's kernel routes, masquerade rules and bridge CNI config for the pods; the
lab's echo server and client as pods; ``kubectl`` (built from the same release) against the admin
kubeconfig hybridctl fetched; ``kubectl drain`` and ``kubeadm reset`` in ``down``. Every component is
built from its pinned upstream Go module (``tests/upstream``). Nothing is simulated; Windows nodes are
not part of this cluster (see ``cluster.py`` for how a test adds them).

The tests run in order on one cluster (module scope): up, pods across nodes, a Service, a second up,
down.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.lab.e2e import changed_steps, planned_changes
from tests.lab.real.cluster import CAN_LOWER_OOM_SCORE, RealCluster
from tests.lab.real.hosts import SystemdHost
from tests.lab.real.images import ECHO_TAG

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]

ROUTE_PROTO = "233"  # hybridctl's pod routes (hybridctl.render.network.LINUX_ROUTE_PROTO)
LEFTOVERS = (
    "/etc/kubernetes/manifests/kube-apiserver.yaml",
    "/etc/kubernetes/kubelet.conf",
    "/etc/cni/net.d/10-hybridctl-bridge.conflist",
    "/etc/hybridctl",
    "/etc/systemd/system/hybridctl-pod-routes.service",
    "/etc/systemd/system/hybridctl-pod-masquerade.service",
    "/var/lib/etcd/member",
)


@pytest.fixture(scope="module")
def built(real_cluster: RealCluster) -> Iterator[RealCluster]:
    """The cluster after one ``hybridctl up``; its wall time is printed (``-s`` shows it)."""
    started = time.monotonic()
    result = real_cluster.hybridctl("up", "--yes")
    elapsed = time.monotonic() - started
    print(f"\nhybridctl up (1 control plane + 1 Linux worker, real Kubernetes): {elapsed:.1f} s")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    yield real_cluster


def _nodes(cluster: RealCluster) -> dict[str, dict[str, Any]]:
    items = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    return {item["metadata"]["name"]: item for item in items}


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def _pod_routes(host: SystemdHost) -> dict[str, str]:
    """hybridctl's pod routes on ``host``: destination -> gateway."""
    lines = host.exec("ip", "-4", "route", "show", "proto", ROUTE_PROTO).stdout.splitlines()
    return {line.split()[0]: line.split()[line.split().index("via") + 1] for line in lines if "via" in line}


def assert_reset(host: SystemdHost) -> None:
    """What ``down`` leaves on a Linux host: no static pod, kubelet config, CNI config, hybridctl file or
    unit, etcd data, pod route, bridge, forward rule, running kubelet or container."""
    present = [p for p in LEFTOVERS if host.exec("test", "-e", p, check=False).returncode == 0]
    assert present == [], host.name
    assert _pod_routes(host) == {}, host.name
    assert "cni0" not in host.exec("ip", "link", "show").stdout, host.name
    assert "HYBRIDCTL-POD-FWD" not in host.exec("iptables", "-w", "-t", "filter", "-S").stdout, host.name
    assert host.exec("systemctl", "is-active", "kubelet", check=False).stdout.strip() != "active", host.name
    tasks = host.exec("ctr", "-n", "k8s.io", "tasks", "list", "-q", check=False).stdout.split()
    assert tasks == [], host.name


def test_up_builds_a_cluster_whose_nodes_are_ready(built: RealCluster) -> None:
    """Both nodes Ready at v1.37.2 on containerd 2.4.2; the controller-manager gave each a pod CIDR, and
    every host has exactly one hybridctl route: to the other node's CIDR via that node's address."""
    nodes = _nodes(built)
    assert set(nodes) == {h.name for h in built.hosts}
    for name, node in nodes.items():
        assert _ready(node), (name, node["status"]["conditions"])
        info = node["status"]["nodeInfo"]
        assert info["kubeletVersion"] == "v1.37.2"
        assert info["containerRuntimeVersion"] == "containerd://2.4.2"
    cidrs = {name: node["spec"]["podCIDR"] for name, node in nodes.items()}
    assert len(set(cidrs.values())) == len(cidrs)
    for host in built.hosts:
        expected = {cidrs[o.name]: o.address for o in built.hosts if o is not host}
        assert _pod_routes(host) == expected, host.name


def test_kube_system_runs_from_the_lab_registry(built: RealCluster) -> None:
    """The static control plane, kube-proxy on every node and CoreDNS are Running, pulled from the
    inventory's imageRepository."""

    def running() -> list[dict[str, Any]] | None:
        pods = json.loads(built.kubectl("get", "pods", "-n", "kube-system", "-o", "json"))["items"]
        ready = [p for p in pods if p["status"].get("phase") == "Running" and _containers_ready(p)]
        return pods if len(ready) == len(pods) and _has_coredns(ready) else None

    pods = built.wait_for("every kube-system pod Running and ready", running, timeout=300)
    names = {p["metadata"]["name"] for p in pods}
    control_plane = built.host("control-plane").name
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert f"{component}-{control_plane}" in names, component
    proxies = [p for p in pods if p["metadata"]["name"].startswith("kube-proxy-")]
    assert {p["spec"]["nodeName"] for p in proxies} == {h.name for h in built.hosts}
    for pod in pods:
        for container in pod["spec"]["containers"]:
            assert container["image"].startswith(built.sources.registry + "/"), container["image"]


def _containers_ready(pod: dict[str, Any]) -> bool:
    statuses = pod["status"].get("containerStatuses") or []
    return bool(statuses) and all(s.get("ready") for s in statuses)


def _has_coredns(pods: list[dict[str, Any]]) -> bool:
    return any(p["metadata"]["name"].startswith("coredns-") for p in pods)


def _echo_image(cluster: RealCluster) -> str:
    return f"{cluster.sources.registry}/echo:{ECHO_TAG}"


def _pod(cluster: RealCluster, name: str, node: SystemdHost, args: list[str], **extra: Any) -> dict[str, Any]:
    container = {"name": "echo", "image": _echo_image(cluster), "args": args}
    spec: dict[str, Any] = {
        "nodeSelector": {"kubernetes.io/hostname": node.name},
        # the client runs on the control plane (kubeadm taints it): the scheduler places it there
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        "containers": [container],
        **extra,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": spec,
    }


def _apply(cluster: RealCluster, *objects: dict[str, Any]) -> None:
    path = cluster.workdir / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    cluster.kubectl("apply", "-f", str(path))


def _client(cluster: RealCluster, name: str, url: str) -> str:
    """Run the echo client as a pod on the control plane; what it fetched from ``url``."""
    client = _pod(cluster, name, cluster.host("control-plane"), ["-get", url], restartPolicy="Never")
    _apply(cluster, client)

    def finished() -> str | None:
        phase = cluster.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = cluster.wait_for(f"client pod {name} finished", finished, timeout=180)
    logs = cluster.kubectl("logs", name)
    assert phase == "Succeeded", logs
    return logs


@pytest.fixture(scope="module")
def server(built: RealCluster) -> dict[str, Any]:
    """An echo server pod on the worker, Running with its pod IP."""
    worker = built.host("worker")
    _apply(built, _pod(built, "echo-server", worker, ["-listen", ":8080"]))

    def running() -> dict[str, Any] | None:
        pod = json.loads(built.kubectl("get", "pod", "echo-server", "-o", "json"))
        return pod if pod["status"].get("phase") == "Running" and pod["status"].get("podIP") else None

    return dict(built.wait_for("echo-server Running", running, timeout=180))


def test_a_pod_on_the_control_plane_reaches_a_pod_on_the_worker(
    built: RealCluster, server: dict[str, Any]
) -> None:
    """TCP from a pod on the control plane to a pod IP in the worker's CIDR, over hybridctl's routes; the
    server sees the client's own pod IP (pod-to-pod traffic is not masqueraded)."""
    pod_ip = server["status"]["podIP"]
    worker = _nodes(built)[built.host("worker").name]
    assert _in_cidr(pod_ip, worker["spec"]["podCIDR"])
    answer = _client(built, "client-direct", f"http://{pod_ip}:8080/").split()
    assert answer[0] == "echo-server"
    client_ip = built.kubectl("get", "pod", "client-direct", "-o", "jsonpath={.status.podIP}")
    control_plane = _nodes(built)[built.host("control-plane").name]
    assert _in_cidr(client_ip, control_plane["spec"]["podCIDR"])
    assert answer[1].rsplit(":", 1)[0] == client_ip


def _in_cidr(address: str, cidr: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


def test_a_cluster_ip_service_is_reached_through_kube_proxy_and_coredns(
    built: RealCluster, server: dict[str, Any]
) -> None:
    """A ClusterIP Service in front of the worker's pod answers a pod on the control plane, by IP (the real
    kube-proxy's rules) and by name (the real CoreDNS)."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo"},
        "spec": {"selector": {"app": "echo-server"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    _apply(built, service)
    cluster_ip = built.kubectl("get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}")
    assert _client(built, "client-service", f"http://{cluster_ip}/").split()[0] == "echo-server"
    by_name = _client(built, "client-dns", "http://echo.default.svc.cluster.local/")
    assert by_name.split()[0] == "echo-server"


def test_a_second_up_changes_nothing(built: RealCluster) -> None:
    """``up`` on the converged cluster reports no change and exits 0."""
    again = built.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert changed_steps(again.stdout) == []


def test_down_drains_resets_and_leaves_the_hosts_clean(built: RealCluster) -> None:
    """``down`` drains and resets both nodes (kubeadm reset): no static pods, kubelet config, etcd data,
    hybridctl routes, bridge or rules remain, no container runs; a second ``down`` changes nothing."""
    result = built.hybridctl("down", "--yes", "--output", "json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for host in built.hosts:
        assert_reset(host)
    again = built.hybridctl("down", "--yes", "--output", "json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert changed_steps(again.stdout) == []


SKIPPED_BY_AN_INTERRUPTION = (
    "upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon"
)


def test_up_finishes_a_kubeadm_init_that_stopped_after_the_control_plane_started(built: RealCluster) -> None:
    """An ``up`` killed while ``kubeadm init`` runs can leave admin.conf and a running API server without
    init's later phases (kubeadm writes admin.conf in its kubeconfig phase, long before bootstrap-token and
    addon): the next ``up`` took the cluster for initialised, joins failed and bootstrap tokens had no RBAC
    to create CSRs (the hybrid lab, HYBRIDCTL_INTERRUPT_SEED=8839). Made deterministic: on the hosts
    ``down`` left (packages kept), real ``kubeadm init`` runs hybridctl's rendered config with exactly those
    phases skipped; ``up`` must then finish the init with kubeadm's own phases, join the worker and bring
    both nodes Ready with kube-proxy and CoreDNS; a second ``up`` changes nothing; ``down`` cleans up."""
    out = built.workdir / "rendered"
    rendered = built.hybridctl("render", "-o", str(out))
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    control_plane = built.host("control-plane")
    (config,) = [p for p in out.rglob("kubeadm-init.yaml") if control_plane.name in p.parts]
    target = control_plane.root / "root" / "kubeadm-init.yaml"
    target.write_bytes(config.read_bytes())
    skip = f"--skip-phases={SKIPPED_BY_AN_INTERRUPTION},show-join-command"
    control_plane.exec("kubeadm", "init", "--config", "/root/kubeadm-init.yaml", skip, timeout=300)
    resumed = built.hybridctl("up", "--yes", "--output", "json")
    assert resumed.returncode == 0, resumed.stdout[-6000:] + resumed.stderr[-3000:]
    finished = [e for e in planned_changes(resumed.stdout) if e[1] == "kubeadm-init"]
    assert finished == [(control_plane.name, "kubeadm-init")], planned_changes(resumed.stdout)
    built.wait_for(
        "both nodes Ready", lambda: len(_nodes(built)) == 2 and all(map(_ready, _nodes(built).values()))
    )
    for kind, name in (("daemonset", "kube-proxy"), ("deployment", "coredns")):
        built.kubectl("get", "-n", "kube-system", kind, name)
    built.kubectl("get", "-n", "kube-public", "configmap", "cluster-info")
    again = built.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0 and changed_steps(again.stdout) == [], again.stdout[-4000:]
    down = built.hybridctl("down", "--yes")
    assert down.returncode == 0, down.stdout[-4000:] + down.stderr[-2000:]
    for host in built.hosts:
        assert_reset(host)


def test_plan_warns_when_pods_could_not_lower_their_oom_scores(built: RealCluster) -> None:
    """On hosts that cannot lower OOM scores (this machine's), preflight names restrictOomScoreAdj when the
    inventory leaves it off: without it runc failed every pod here."""
    document = built.document()
    document["spec"]["containerd"]["restrictOomScoreAdj"] = False
    inventory = built.workdir / "without-restrict.yaml"
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    argv = [*built.command("plan", "--output", "json")[:-2], "-i", str(inventory)]
    done = subprocess.run(argv, cwd=built.workdir, capture_output=True, text=True, timeout=300, check=False)
    warned = [e for e in map(json.loads, done.stdout.splitlines()) if e.get("event") == "warning"]
    named = [e for e in warned if "restrictOomScoreAdj" in e.get("message", "")]
    assert len(named) == (0 if CAN_LOWER_OOM_SCORE else len(built.hosts)), done.stdout[-3000:] + done.stderr
