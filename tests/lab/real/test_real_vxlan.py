"""Tier: lab, real Kubernetes, vxlan mode. ``hybridctl up`` with ``network.mode: vxlan`` on two Linux nodes.

Real: everything ``test_real_cluster.py`` lists (the unmodified CLI over SSH, systemd-nspawn Debian hosts,
kubeadm, kubelet, containerd, runc, kube-proxy, CoreDNS from the lab registry), and flannel itself: the
kube-flannel DaemonSet hybridctl applied, running flanneld v0.28.10 and its install-conf built from
github.com/flannel-io/flannel's Go module, and the flannel CNI plugin built from its former upstream home,
containernetworking/plugins v0.9.1 ``plugins/meta/flannel`` (``tests/upstream/labmod.py``; the module proxy
refuses github.com/flannel-io/cni-plugin; likewise flanneld's unused Tencent Cloud backend compiles against
a stand-in because the proxy refuses that SDK module),
pulled through the inventory's ``ghcr.io`` mirror at the lab registry. flanneld creates the kernel VXLAN
device from the kube-flannel-cfg ConfigMap; pod traffic between nodes crosses it. Emulated: nothing;
Windows nodes are not part of this cluster (vxlan with Windows nodes is refused by ``up`` today).

The tests run in order on one cluster (module scope): up, the overlay devices, pods across nodes over
UDP 4789, a second up, routes mode refused, add-node and down NAME of a third Linux worker, down.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.e2e import changed_steps
from tests.lab.real.cluster import RealCluster
from tests.lab.real.hosts import SystemdHost, SystemdHosts
from tests.lab.real.test_real_cluster import _apply, _client, _in_cidr, _nodes, _pod, _pod_routes, _ready

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]

VNI, PORT, DEVICE = 4096, 4789, "flannel.4096"  # hybridctl.render.context: VXLAN_VNI, VXLAN_PORT
COUNTER = "hybridctl-test-vxlan"


@pytest.fixture(scope="module")
def built(real_cluster: RealCluster) -> Iterator[RealCluster]:
    """The cluster after one vxlan-mode ``hybridctl up``; its wall time is printed."""
    real_cluster.network_mode = "vxlan"
    real_cluster.write_inventory()
    started = time.monotonic()
    result = real_cluster.hybridctl("up", "--yes")
    print(f"\nhybridctl up, vxlan (1 control plane + 1 Linux worker): {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    yield real_cluster


def test_flannel_builds_a_kernel_vxlan_on_every_node(built: RealCluster) -> None:
    """Both nodes Ready; flanneld runs on both (the DaemonSet, Linux only); each host has a kernel VXLAN
    device flannel.4096 with VNI 4096 and destination port 4789 on the node's address, flannel's CNI
    config and plugin, and neither hybridctl's bridge config nor its static pod routes."""

    def flannel_running() -> list[dict[str, Any]] | None:
        pods = json.loads(built.kubectl("get", "pods", "-n", "kube-flannel", "-o", "json"))["items"]
        ready = [p for p in pods if p["status"].get("phase") == "Running"]
        return ready if len(ready) == len(built.hosts) else None

    pods = built.wait_for("kube-flannel pods Running on both nodes", flannel_running, timeout=300)
    assert {p["spec"]["nodeName"] for p in pods} == {h.name for h in built.hosts}
    ds = json.loads(built.kubectl("get", "daemonset", "kube-flannel-ds", "-n", "kube-flannel", "-o", "json"))
    assert ds["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    built.wait_for("nodes Ready", lambda: all(_ready(n) for n in _nodes(built).values()), timeout=300)
    for host in built.hosts:
        found = built.wait_for(f"{DEVICE} on {host.name}", lambda h=host: _maybe_vxlan(h), timeout=120)
        info = found["linkinfo"]
        assert info["info_kind"] == "vxlan", host.name
        assert info["info_data"]["id"] == VNI and info["info_data"]["port"] == PORT, info
        assert info["info_data"]["local"] == host.address, info
        assert host.exec("test", "-x", "/opt/cni/bin/flannel", check=False).returncode == 0
        assert host.exec("test", "-e", "/etc/cni/net.d/10-flannel.conflist", check=False).returncode == 0
        bridge = host.exec("test", "-e", "/etc/cni/net.d/10-hybridctl-bridge.conflist", check=False)
        assert bridge.returncode != 0, host.name
        assert _pod_routes(host) == {}, host.name


def _udp_counter(host: SystemdHost) -> int:
    """Packets counted by the test's INPUT rule for UDP 4789 on ``host``."""
    out = host.exec("iptables", "-w", "-L", "INPUT", "-v", "-x", "-n").stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if COUNTER in line)


@pytest.fixture
def counted(built: RealCluster) -> Iterator[None]:
    """A counting-only iptables rule (no target) for UDP 4789 arriving at each host; removed afterwards."""
    rule = ("INPUT", "-p", "udp", "--dport", str(PORT), "-m", "comment", "--comment", COUNTER)
    for host in built.hosts:
        host.exec("iptables", "-w", "-I", *rule)
    try:
        yield
    finally:
        for host in built.hosts:
            host.exec("iptables", "-w", "-D", *rule, check=False)


def test_pods_on_two_nodes_talk_tcp_over_udp_4789(built: RealCluster, counted: None) -> None:
    """A pod on the control plane fetches from a pod on the worker by pod IP; the server sees the client's
    own pod IP; the worker received UDP 4789 datagrams and its flannel.4096 device decapsulated packets
    while they talked (the kernel's counters)."""
    worker = built.host("worker")
    _apply(built, _pod(built, "echo-server", worker, ["-listen", ":8080"]))

    def running() -> dict[str, Any] | None:
        pod = json.loads(built.kubectl("get", "pod", "echo-server", "-o", "json"))
        return pod if pod["status"].get("phase") == "Running" and pod["status"].get("podIP") else None

    server = built.wait_for("echo-server Running", running, timeout=180)
    pod_ip = server["status"]["podIP"]
    assert _in_cidr(pod_ip, _nodes(built)[worker.name]["spec"]["podCIDR"])
    before_udp, before_rx = _udp_counter(worker), _vxlan_rx(worker)
    answer = _client(built, "client-vxlan", f"http://{pod_ip}:8080/").split()
    assert answer[0] == "echo-server"
    client_ip = built.kubectl("get", "pod", "client-vxlan", "-o", "jsonpath={.status.podIP}")
    assert answer[1].rsplit(":", 1)[0] == client_ip
    assert _udp_counter(worker) > before_udp
    assert _vxlan_rx(worker) > before_rx


def _vxlan_rx(host: SystemdHost) -> int:
    found = json.loads(host.exec("ip", "-s", "-j", "link", "show", DEVICE).stdout)[0]
    return int(found["stats64"]["rx"]["packets"])


def test_a_second_up_changes_nothing(built: RealCluster) -> None:
    """``up`` on the converged vxlan cluster reports no change and exits 0 (the flannel step's
    ``kubectl diff`` finds nothing)."""
    again = built.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert changed_steps(again.stdout) == []


def test_routes_mode_on_the_vxlan_cluster_is_refused(built: RealCluster) -> None:
    """Switching the built cluster to routes mode is refused by preflight before anything changes."""
    built.network_mode = "routes"
    try:
        built.write_inventory()
        done = built.hybridctl("up", "--yes")
    finally:
        built.network_mode = "vxlan"
        built.write_inventory()
    assert done.returncode != 0
    assert (
        "switching an existing cluster between routes and vxlan is not supported" in done.stdout + done.stderr
    )


def _echo_server(cluster: RealCluster, name: str, node: SystemdHost) -> str:
    """An echo server pod on ``node``, Running; its pod IP."""
    _apply(cluster, _pod(cluster, name, node, ["-listen", ":8080"]))

    def running() -> str | None:
        pod = json.loads(cluster.kubectl("get", "pod", name, "-o", "json"))
        return pod["status"].get("podIP") if pod["status"].get("phase") == "Running" else None

    return str(cluster.wait_for(f"{name} Running", running, timeout=180))


def test_add_node_then_down_name_keep_the_overlay_working(
    built: RealCluster, systemd_lab: SystemdHosts
) -> None:
    """``add-node`` joins a third Linux worker: flannel's DaemonSet runs there, it gets its own
    flannel.4096 and a pod on it answers a pod on the control plane over TCP. ``down NAME`` removes it: the
    node leaves the API, the control plane drops its route to the node's pod CIDR (flannel's lease watch),
    and pods on the two remaining nodes still talk."""
    (extra,) = systemd_lab.add(1)
    built.members.append((extra, "worker"))
    try:
        built.write_inventory()
        added = built.hybridctl("add-node", extra.name, "--yes")
        assert added.returncode == 0, added.stdout[-6000:] + added.stderr[-3000:]
        built.wait_for(
            "new node Ready", lambda: _ready(_nodes(built).get(extra.name, {"status": {"conditions": []}}))
        )
        info = built.wait_for("flannel.4096 on the new node", lambda: _maybe_vxlan(extra), timeout=180)
        assert info["linkinfo"]["info_data"]["id"] == VNI
        pod_ip = _echo_server(built, "echo-added", extra)
        assert _client(built, "client-added", f"http://{pod_ip}:8080/").split()[0] == "echo-added"
        cidr = _nodes(built)[extra.name]["spec"]["podCIDR"]
        removed = built.hybridctl("down", extra.name, "--yes")
        assert removed.returncode == 0, removed.stdout[-6000:] + removed.stderr[-3000:]
        assert extra.name not in _nodes(built)
        control_plane = built.host("control-plane")

        def route_gone() -> bool:
            return cidr not in control_plane.exec("ip", "-4", "route", "show").stdout

        built.wait_for(f"route to {cidr} gone from the control plane", route_gone, timeout=120)
        server_ip = json.loads(built.kubectl("get", "pod", "echo-server", "-o", "json"))["status"]["podIP"]
        answer = _client(built, "client-after-down", f"http://{server_ip}:8080/").split()
        assert answer[0] == "echo-server"
    finally:
        built.members.remove((extra, "worker"))
        built.write_inventory()
        systemd_lab.remove([extra])


def _maybe_vxlan(host: SystemdHost) -> dict[str, Any] | None:
    done = host.exec("ip", "-d", "-j", "link", "show", DEVICE, check=False)
    return dict(json.loads(done.stdout)[0]) if done.returncode == 0 else None


def test_down_removes_the_overlay(built: RealCluster) -> None:
    """``down`` leaves no flannel device, CNI config, subnet lease or FLANNEL- rules; a second down is
    a no-op."""
    result = built.hybridctl("down", "--yes", "--output", "json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for host in built.hosts:
        links = host.exec("ip", "link", "show").stdout
        assert DEVICE not in links and "cni0" not in links, host.name
        for path in ("/etc/cni/net.d/10-flannel.conflist", "/run/flannel"):
            assert host.exec("test", "-e", path, check=False).returncode != 0, (host.name, path)
        assert "FLANNEL-" not in host.exec("iptables-save").stdout, host.name
    again = built.hybridctl("down", "--yes", "--output", "json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert changed_steps(again.stdout) == []
