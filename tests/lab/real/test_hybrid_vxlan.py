"""Tier: lab, real Kubernetes with emulated Windows nodes, vxlan mode: ONE ``hybridctl up`` builds 1 control
plane + 1 Linux worker (real) + 2 Windows workers (simulated hosts, real node agents) on flannel's VXLAN
overlay, and the lifecycle verbs keep it working.

Real: everything ``test_hybrid_cluster.py`` lists (the unmodified CLI, systemd-nspawn Debian hosts, kubeadm,
kubelet, containerd, runc, kube-proxy, CoreDNS, the API server, scheduler and controller-manager, pypsrp to
the Windows hosts' WinRM endpoints, the node agent with the kubelet's and kube-proxy's code) and flannel on
the Linux nodes: the kube-flannel DaemonSet hybridctl applied, running flanneld built from its Go module
from the lab registry, which reads the Windows nodes' lease annotations from the real API server and
programs the kernel VXLAN device flannel.4096 towards them; the kernel's VXLAN data path (UDP 4789)
between every pair of nodes; ``hybridctl smoke``'s checks.

Emulated: Windows (the machine model behind each endpoint), its container runtime (pods are network
namespaces running the Linux agnhost), and Windows flanneld (tests/lab/real/winflannel.py): from the files
and service hybridctl installed it takes the Node's pod CIDR from the real API server with the flannel
token, builds the Overlay network as a bridge plus a kernel VXLAN device in the host's namespace, writes
its lease annotations as flanneld does, and programs one RemoteSubnetRoute per other node's lease read
from the API (route, neighbour, forwarding entry), so Linux↔Windows and Windows↔Windows traffic is real
VXLAN from and to emulated hosts.

The module first runs an ``up`` killed at a seeded random point (as the routes-mode hybrid module), then
the ``up`` the tests rely on; then in order: the overlay on every node, smoke over UDP 4789 counted per
node pair, a second ``up``, ``down NAME`` of a Windows worker, ``add-node`` of it and of a third Linux
worker with smoke across all five nodes, ``down NAME`` of that worker, and ``down``.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.e2e import changed_steps
from tests.lab.real.cluster import RealCluster
from tests.lab.real.hosts import SystemdHost, SystemdHosts
from tests.lab.real.test_hybrid_cluster import (
    _NOT_READY,
    _all_ready,
    _interrupted_up,
    _machine_is_clean,
    _nodes,
    _ready,
    _smoke,
)
from tests.lab.real.test_real_cluster import _pod_routes, assert_reset
from tests.lab.real.windows_members import WindowsMembers
from tests.lab.windows_sim.netns import ip

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]

WINDOWS = ("win1", "win2")
VNI, PORT = 4096, 4789
LINUX_DEVICE, WINDOWS_DEVICE = "flannel.4096", "vxlan.4096"
ANNOTATION = "flannel.alpha.coreos.com/"
COUNTER = "hybridctl-vxlan-from"

Built = tuple[RealCluster, WindowsMembers]


@pytest.fixture(scope="module")
def built(hybrid_vxlan_cluster: Built) -> Iterator[Built]:
    """The cluster after an interrupted vxlan ``up`` and one ``hybridctl up --yes``; times printed."""
    cluster, windows = hybrid_vxlan_cluster
    interrupted = _interrupted_up(cluster)
    started = time.monotonic()
    result = cluster.hybridctl("up", "--yes")
    up_done = time.monotonic() - started
    assert result.returncode == 0, interrupted + result.stdout[-6000:] + result.stderr[-3000:]
    cluster.wait_for("all four nodes Ready", lambda: _all_ready(cluster), timeout=300)
    ready = time.monotonic() - started
    print(f"\nhybridctl up vxlan (1 cp + 1 Linux + 2 Windows): {up_done:.1f} s; all Ready: {ready:.1f} s")
    yield cluster, windows


def _addresses(cluster: RealCluster, windows: WindowsMembers) -> dict[str, str]:
    """Node name -> node address (the VXLAN underlay)."""
    found = {h.name: h.address for h in cluster.hosts}
    return found | {name: node.address for name, node in windows.nodes.items()}


def _ns(windows: WindowsMembers, name: str) -> str:
    return windows.hosts[name].namespace


def _vtep_mac(windows: WindowsMembers, name: str) -> str:
    shown = json.loads(ip("-j", "link", "show", WINDOWS_DEVICE, namespace=_ns(windows, name)))
    return str(shown[0]["address"])


def _windows_overlay_routes(windows: WindowsMembers, name: str) -> dict[str, str]:
    """Destination -> gateway of the routes on the VXLAN device in a Windows host's namespace."""
    shown = ip("-4", "route", "show", "dev", WINDOWS_DEVICE, namespace=_ns(windows, name), check=False)
    return {line.split()[0]: line.split()[2] for line in shown.splitlines() if " via " in line}


def _linux_overlay(host: SystemdHost) -> tuple[dict[str, str], str]:
    """A Linux host's routes on flannel.4096 (destination -> gateway) and its forwarding table."""
    shown = host.exec("ip", "-4", "route", "show", "dev", LINUX_DEVICE, check=False).stdout
    routes = {line.split()[0]: line.split()[2] for line in shown.splitlines() if " via " in line}
    return routes, host.exec("bridge", "fdb", "show", "dev", LINUX_DEVICE, check=False).stdout


def _first(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr).network_address)


def _leased(cluster: RealCluster) -> dict[str, dict[str, Any]] | AssertionError:
    """The Nodes once each has flannel's lease annotations, else which ones lack them."""
    nodes = _nodes(cluster)
    missing = [n for n, o in nodes.items() if ANNOTATION + "backend-data" not in o["metadata"]["annotations"]]
    return AssertionError(f"no lease annotations on {missing}") if missing else nodes


def test_every_node_has_a_vxlan_lease_and_each_side_programs_the_others(built: Built) -> None:
    """flanneld runs only on the Linux nodes (the DaemonSet); every Node carries a vxlan lease (VNI 4096,
    its own address as public IP), the Windows ones with the MAC of their VXLAN device, written by the
    emulated Windows flanneld. The real Linux flanneld routes every other node's pod CIDR via its first
    address on flannel.4096 and sends the Windows VTEP MACs to the Windows addresses; each Windows host
    routes every other node's pod CIDR over its VXLAN device. No hybridctl static route exists anywhere;
    each Windows machine has the Overlay network flannel.4096 on its pod CIDR and no cbr0."""
    cluster, windows = built
    nodes = cluster.wait_for("every node has a vxlan lease", lambda: _leased(cluster), timeout=300)
    addresses = _addresses(cluster, windows)
    pods = json.loads(cluster.kubectl("get", "pods", "-n", "kube-flannel", "-o", "json"))["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(h.name for h in cluster.hosts)
    cidrs = {name: node["spec"]["podCIDR"] for name, node in nodes.items()}
    for name, node in nodes.items():
        annotations = node["metadata"]["annotations"]
        assert annotations[ANNOTATION + "backend-type"] == "vxlan", name
        assert annotations[ANNOTATION + "public-ip"] == addresses[name], name
        data = json.loads(annotations[ANNOTATION + "backend-data"])
        assert data["VNI"] == VNI, name
        if name in WINDOWS:
            assert data["VtepMAC"] == _vtep_mac(windows, name)
    for host in cluster.hosts:
        routes, fdb = _linux_overlay(host)
        assert routes == {cidrs[n]: _first(cidrs[n]) for n in nodes if n != host.name}, host.name
        for name in WINDOWS:
            assert f"{_vtep_mac(windows, name)} dst {addresses[name]}" in fdb, (host.name, fdb)
        assert _pod_routes(host) == {}, host.name
    for name in WINDOWS:
        routes = _windows_overlay_routes(windows, name)
        assert routes == {cidrs[n]: _first(cidrs[n]) for n in nodes if n != name}, name
        machine = windows.nodes[name].host.machine
        overlay = machine.hns_networks[LINUX_DEVICE]
        assert (str(overlay["type"]).lower(), overlay["addressPrefix"]) == ("overlay", cidrs[name])
        assert "cbr0" not in machine.hns_networks and machine.routes == []


def _counter_rule(peer: str, address: str) -> tuple[str, ...]:
    """Count (no target) UDP 4789 datagrams from ``peer``'s address."""
    match = ("-p", "udp", "--dport", str(PORT), "-s", address)
    return ("INPUT", *match, "-m", "comment", "--comment", f"{COUNTER} {peer}")


def _run_iptables(cluster: RealCluster, windows: WindowsMembers, node: str, *argv: str) -> str:
    """iptables on a Linux host, or in a Windows host's namespace."""
    if node in windows.nodes:
        command = ["ip", "netns", "exec", _ns(windows, node), "iptables", "-w", *argv]
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout
    host = next(h for h in cluster.hosts if h.name == node)
    return host.exec("iptables", "-w", *argv, check=False).stdout


@pytest.fixture
def vxlan_counters(built: Built) -> Iterator[None]:
    """On every node, one counting-only INPUT rule per other node for UDP 4789 from that node's address
    (``_counts`` reads them); removed afterwards."""
    cluster, windows = built
    addresses = _addresses(cluster, windows)
    pairs = [(n, p) for n in addresses for p in addresses if n != p]
    for node, peer in pairs:
        _run_iptables(cluster, windows, node, "-I", *_counter_rule(peer, addresses[peer]))
    try:
        yield
    finally:
        for node, peer in pairs:
            _run_iptables(cluster, windows, node, "-D", *_counter_rule(peer, addresses[peer]))


def _counts(cluster: RealCluster, windows: WindowsMembers) -> dict[tuple[str, str], int]:
    """(receiving node, sending node) -> UDP 4789 packets counted."""
    found = {}
    for node in _addresses(cluster, windows):
        listing = _run_iptables(cluster, windows, node, "-L", "INPUT", "-v", "-x", "-n")
        for line in listing.splitlines():
            if COUNTER in line:
                peer = line.split(COUNTER, 1)[1].split()[0]
                found[(node, peer)] = int(line.split()[0])
    return found


def _smoke_passes(cluster: RealCluster, junit: str) -> dict[tuple[str, str], Any]:
    code, cases, output = _smoke(cluster, cluster.workdir / junit)
    assert code == 0, output
    assert {key for key, case in cases.items() if case.result} == set(), output
    return cases


def test_smoke_passes_over_the_overlay_and_every_node_pair_exchanged_udp_4789(
    built: Built, vxlan_counters: None
) -> None:
    """``hybridctl smoke`` passes every check (pod-to-pod for all 12 ordered node pairs, localhost, the
    Services of each OS from the other, DNS, egress); meanwhile every node received VXLAN datagrams from
    every other node (a counting rule per sender), so Linux↔Linux, Linux↔Windows and Windows↔Windows pod
    traffic crossed UDP 4789."""
    cluster, windows = built
    cases = _smoke_passes(cluster, "smoke-vxlan.xml")
    nodes = sorted(_nodes(cluster))
    assert {("pod-to-pod", f"{a} -> {b}") for a in nodes for b in nodes if a != b} <= set(cases)
    counts = _counts(cluster, windows)
    assert len(counts) == 12 and all(counts.values()), counts


def test_a_second_up_changes_nothing(built: Built) -> None:
    """``up`` on the converged vxlan cluster reports no change on any host."""
    cluster, _ = built
    again = cluster.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert changed_steps(again.stdout) == []


def test_down_name_of_a_windows_worker_removes_its_overlay_everywhere(built: Built) -> None:
    """``down win2``: the Node is gone; the Linux flanneld and win1 drop their route to its pod CIDR; its
    machine has no service, HNS network or route and its namespace no overlay device left."""
    cluster, windows = built
    departing = _nodes(cluster)["win2"]["spec"]["podCIDR"]
    removed = cluster.hybridctl("down", "win2", "--yes")
    assert removed.returncode == 0, removed.stdout[-6000:] + removed.stderr[-3000:]
    assert "win2" not in _nodes(cluster)

    def forgotten() -> bool:
        linux = all(departing not in _linux_overlay(h)[0] for h in cluster.hosts)
        return linux and departing not in _windows_overlay_routes(windows, "win1")

    cluster.wait_for("every node forgot win2's lease", forgotten, timeout=60)
    _machine_is_clean(windows, "win2")
    links = ip("-o", "link", "show", namespace=_ns(windows, "win2"))
    assert WINDOWS_DEVICE not in links and LINUX_DEVICE not in links
    assert all(_ready(n) for n in _nodes(cluster).values())


def test_add_node_of_a_windows_and_a_linux_worker_then_down_name_keep_the_overlay_working(
    built: Built, systemd_lab: SystemdHosts
) -> None:
    """``add-node win2`` and ``add-node`` of a third Linux host: both Ready with vxlan leases; smoke passes
    across all five nodes (20 ordered pod-to-pod pairs). ``down NAME`` of the Linux host: every remaining
    node forgets its lease and smoke still passes on the four."""
    cluster, windows = built
    added = cluster.hybridctl("add-node", "win2", "--yes")
    assert added.returncode == 0, added.stdout[-6000:] + added.stderr[-3000:]
    (extra,) = systemd_lab.add(1)
    cluster.members.append((extra, "worker"))
    try:
        cluster.write_inventory(extra_hosts=cluster.extra_hosts)
        joined = cluster.hybridctl("add-node", extra.name, "--yes")
        assert joined.returncode == 0, joined.stdout[-6000:] + joined.stderr[-3000:]
        for name in ("win2", extra.name):
            ready = lambda n=name: _ready(_nodes(cluster).get(n, _NOT_READY))  # noqa: E731
            cluster.wait_for(f"{name} Ready", ready, timeout=240)
        cases = _smoke_passes(cluster, "smoke-vxlan-five.xml")
        assert sum(1 for key in cases if key[0] == "pod-to-pod") == 20
        cidr = _nodes(cluster)[extra.name]["spec"]["podCIDR"]

        removed = cluster.hybridctl("down", extra.name, "--yes")
        assert removed.returncode == 0, removed.stdout[-6000:] + removed.stderr[-3000:]

        def forgotten() -> bool:
            linux = all(cidr not in _linux_overlay(h)[0] for h in cluster.hosts if h is not extra)
            return linux and all(cidr not in _windows_overlay_routes(windows, n) for n in WINDOWS)

        cluster.wait_for(f"every node forgot {extra.name}'s lease", forgotten, timeout=60)
        assert LINUX_DEVICE not in extra.exec("ip", "link", "show").stdout
    finally:
        cluster.members.remove((extra, "worker"))
        cluster.write_inventory(extra_hosts=cluster.extra_hosts)
        systemd_lab.remove([extra])
    # The five-node smoke's namespace still holds the DaemonSet pod of the deleted node until the pod
    # garbage collector removes it: smoke waits for that namespace to go before it deploys.
    _smoke_passes(cluster, "smoke-vxlan-after.xml")


def test_down_removes_the_overlay_from_every_host_and_a_second_down_changes_nothing(built: Built) -> None:
    """``down``: every Linux host is reset with no flannel.4096 device; every Windows machine is clean and
    its namespace has no overlay bridge or VXLAN device; a second ``down`` changes nothing."""
    cluster, windows = built
    result = cluster.hybridctl("down", "--yes", "--output", "json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for host in cluster.hosts:
        assert_reset(host)
        assert LINUX_DEVICE not in host.exec("ip", "link", "show").stdout, host.name
    for name in WINDOWS:
        _machine_is_clean(windows, name)
        links = ip("-o", "link", "show", namespace=_ns(windows, name))
        assert WINDOWS_DEVICE not in links and LINUX_DEVICE not in links, name
    again = cluster.hybridctl("down", "--yes", "--output", "json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert changed_steps(again.stdout) == []
