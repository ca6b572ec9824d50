"""Tier: lab, real Kubernetes, HA with Windows workers: the shipped ``inventories/ha-vxlan.yaml`` through
``up``: three control planes behind a real load balancer, a Linux worker and Windows Server 2019, 2022 and
2025 workers on flannel's VXLAN overlay, Hyper-V isolation offered.

The inventory is the shipped file itself; only what names this machine is replaced: the hosts' addresses,
their logins (root with the lab key instead of the agent through a bastion; WinRM with the lab's CA,
account and ports), ``controlPlaneEndpoint`` (HAProxy's address), the mirror URL, and the air-gapped lab's
registry settings (``imageRepository`` at the lab registry, which also mirrors registry.k8s.io for the
shipped ``pauseImage`` and ghcr.io for flannel) and this machine's cgroup v1 and OOM-score opt-ins. Its
checksum pins stay ``${env:...}`` references: the test exports the sums of its artifacts under the names
the file gives, as the file tells an operator to.

Real: the unmodified ``hybridctl`` CLI over SSH to four Debian 12 hosts booted by systemd-nspawn (systemd,
sshd, apt, units); ``kubeadm init --upload-certs`` on the first and ``kubeadm join --control-plane`` with
the certificate key on the others, through ``controlPlaneEndpoint``; etcd (one member per control plane,
joined as learners and promoted by kubeadm), kube-apiserver, controller-manager and scheduler as static pods
from the lab registry; HAProxy (Debian's package) in front of the API servers, checking ``/healthz`` as
kubeadm's HA guide describes (``loadbalancer.py``); etcd's own member list read from its client API with
kubeadm's healthcheck client certificate; ``kubeadm reset`` removing the etcd member in ``down NAME``; the
Linux worker, flannel (the kube-flannel DaemonSet, flanneld built from its Go module) and the kernel's VXLAN
data path; pypsrp to the Windows hosts' WinRM endpoints and the node agent with the kubelet's and
kube-proxy's code, whose API connections go through the endpoint; ``hybridctl smoke``'s checks.

Emulated (as in ``test_hybrid_vxlan.py``): Windows itself (the machine model behind each endpoint, of the
build the inventory names: 17763 with KB4489899, 20348, 26100; Hyper-V installed by the feature step and
its restart), its container runtime (pods are network namespaces running the Linux agnhost) and Windows
flanneld (``winflannel.py``).

The tests run in order on one cluster (module scope): up, every node and what the inventory promised,
smoke across all seven nodes, losing a control plane, a second up, down of one control plane.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridctl.versions import WINDOWS_BUILDS
from tests.lab.e2e import changed_steps
from tests.lab.real.artifacts import LabBinaries
from tests.lab.real.cluster import RealCluster, lab_ssh
from tests.lab.real.fixtures import with_windows
from tests.lab.real.hosts import SystemdHost, SystemdHosts
from tests.lab.real.loadbalancer import LoadBalancer
from tests.lab.real.sources import LabSources
from tests.lab.real.test_hybrid_cluster import _nodes, _ready
from tests.lab.real.test_hybrid_vxlan import ANNOTATION, _leased, _smoke_passes
from tests.lab.real.windows_members import WindowsMembers
from tests.support.ci import require_tool
from tests.support.inventory import HOST_CGROUP_V1
from tests.support.winrm.machine import WindowsBuild
from tests.support.winrm_fixtures import WinRMAccount, WinRMPki

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]

SHIPPED = Path(__file__).resolve().parents[3] / "inventories" / "ha-vxlan.yaml"
ETCD_PKI = "/etc/kubernetes/pki/etcd"
MOVED = "/root/moved-manifests"
ENV_REFERENCE = re.compile(r"^\$\{env:([A-Z0-9_]+)\}$")
UPDATES = {2019: frozenset({"KB4489899"})}  # what vxlan needs on Windows Server 2019 (its preflight)


def _shipped() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    return document


def _shipped_hosts(os: str) -> list[dict[str, Any]]:
    return [host for host in _shipped()["spec"]["hosts"] if host["os"] == os]


def _windows_machines() -> list[WindowsBuild]:
    """The shipped Windows hosts as simulated machines of their builds (2019 with the update vxlan needs)."""
    return [
        WindowsBuild(
            h["name"], WINDOWS_BUILDS[h["windowsVersion"]], UPDATES.get(h["windowsVersion"], frozenset())
        )
        for h in _shipped_hosts("windows")
    ]


class ShippedHaCluster(RealCluster):
    """The real cluster whose inventory is the shipped ``ha-vxlan.yaml`` with this machine's names (see the
    module docstring); ``linux`` maps its Linux host names to the booted hosts."""

    endpoint: str = ""
    linux: dict[str, SystemdHost]

    def document(self) -> dict[str, Any]:
        """The shipped inventory, with this machine's addresses, logins, endpoint, mirror and registry (and
        the smoke image, by the lab registry's digest)."""
        document = _shipped()
        spec = document["spec"]
        spec["kubernetes"].update(
            controlPlaneEndpoint=self.endpoint,
            imageRepository=self.sources.image_repository,
            allowCgroupV1=HOST_CGROUP_V1,
        )
        spec["containerd"].update(self.lab_containerd(mirrored=["registry.k8s.io"]))
        spec["artifacts"]["mirrorUrl"] = self.sources.mirror_url
        spec["smoke"] = {**spec.get("smoke", {}), **self.smoke_spec()}
        windows = {entry["name"]: entry for entry in self.extra_hosts}
        for host in spec["hosts"]:
            if host["os"] == "linux":
                booted = self.linux[host["name"]]
                host.update(address=booted.address, ssh=lab_ssh(booted))
            else:
                entry = windows[host["name"]]
                host.update(address=entry["address"], interface=entry["interface"], winrm=entry["winrm"])
        return document

    def env(self) -> dict[str, str]:
        """The CLI's environment, with the checksum sums exported under the names the shipped file gives."""
        pins = _shipped()["spec"]["artifacts"]["checksums"]
        exported = {}
        for artifact, reference in pins.items():
            match = ENV_REFERENCE.match(reference)
            assert match, f"{artifact}: {reference} is not an ${{env:...}} reference"
            exported[match.group(1)] = self.checksums[artifact]
        return {**super().env(), **exported}


Built = tuple[ShippedHaCluster, LoadBalancer, WindowsMembers]


@pytest.fixture(scope="module")
def ha(
    lab_binaries: LabBinaries,
    lab_sources: LabSources,
    systemd_lab: SystemdHosts,
    *,
    winrm_pki: WinRMPki,
    winrm_account: WinRMAccount,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Built]:
    """The shipped inventory's hosts booted (Linux) and simulated (Windows), HAProxy in front of the three
    control planes; inventory written, nothing installed."""
    require_tool("haproxy", "apt install haproxy (the HA lab's load balancer)")
    linux = _shipped_hosts("linux")
    hosts = systemd_lab.add(len(linux))
    workdir = tmp_path_factory.mktemp("ha-cluster")
    try:
        named = {entry["name"]: host for entry, host in zip(linux, hosts, strict=True)}
        members = [(named[entry["name"]], entry["role"]) for entry in linux]
        backends = [
            (n, named[n].address) for n, r in ((e["name"], e["role"]) for e in linux) if r == "control-plane"
        ]
        with LoadBalancer(workdir, systemd_lab.addressing.gateway, backends) as balancer:
            cluster = ShippedHaCluster(workdir, members, lab_sources, lab_binaries.kubernetes / "kubectl")
            cluster.name, cluster.endpoint, cluster.linux = (
                _shipped()["metadata"]["name"],
                balancer.endpoint,
                named,
            )
            with with_windows(
                cluster,
                lab_binaries,
                systemd_lab,
                winrm_pki,
                winrm_account,
                mode="vxlan",
                machines=_windows_machines(),
            ) as (_, windows):
                yield cluster, balancer, windows
    finally:
        systemd_lab.remove(hosts)


@pytest.fixture(scope="module")
def built(ha: Built) -> Built:
    """The cluster after one ``hybridctl up`` and every node Ready; the wall times are printed."""
    cluster, _, _ = ha
    started = time.monotonic()
    result = cluster.hybridctl("up", "--yes")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    count = len(_shipped()["spec"]["hosts"])
    ready = lambda: len(_nodes(cluster)) == count and all(_ready(n) for n in _nodes(cluster).values())  # noqa: E731
    cluster.wait_for(f"all {count} nodes Ready", ready, timeout=300)
    print(
        f"\nhybridctl up (ha-vxlan.yaml: 3 cp behind HAProxy, 1 Linux, 3 Windows): {elapsed:.1f} s; "
        f"all Ready: {time.monotonic() - started:.1f} s"
    )
    return ha


def _control_planes(cluster: ShippedHaCluster) -> dict[str, SystemdHost]:
    """Inventory name -> booted host of the control planes."""
    roles = {entry["name"]: entry["role"] for entry in _shipped_hosts("linux")}
    return {name: host for name, host in cluster.linux.items() if roles[name] == "control-plane"}


def _etcd_members(host: SystemdHost) -> list[dict[str, Any]]:
    """etcd's member list, asked of the member on ``host`` through its client API (gRPC gateway)."""
    done = host.exec(
        "curl", "-sS", "--fail", "-X", "POST", "--data", "{}",
        "--cacert", f"{ETCD_PKI}/ca.crt",
        "--cert", f"{ETCD_PKI}/healthcheck-client.crt",
        "--key", f"{ETCD_PKI}/healthcheck-client.key",
        "https://127.0.0.1:2379/v3/cluster/member/list",
    )  # fmt: skip
    return list(json.loads(done.stdout)["members"])


def _control_plane_nodes(cluster: RealCluster) -> dict[str, bool]:
    """Node name -> Ready, for nodes with the control-plane role label."""
    items = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    return {
        n["metadata"]["name"]: _ready(n)
        for n in items
        if "node-role.kubernetes.io/control-plane" in n["metadata"].get("labels", {})
    }


def _runtime_classes(cluster: RealCluster) -> set[str]:
    items = json.loads(cluster.kubectl("get", "runtimeclasses", "-o", "json"))["items"]
    return {item["metadata"]["name"] for item in items}


def _taints(node: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(t["key"], t.get("value", ""), t["effect"]) for t in node["spec"].get("taints") or []}


def test_up_joins_three_control_planes_as_etcd_voters_behind_the_endpoint(built: Built) -> None:
    """Every control plane is a Ready control-plane node, etcd has three started voting members (no learner
    left), each host's own API server is ready, HAProxy sees all three pass /healthz, and the admin
    kubeconfig ``up`` fetched talks to the load balancer, not to one control plane."""
    cluster, balancer, _ = built
    planes = _control_planes(cluster)
    names = set(planes)
    assert _control_plane_nodes(cluster) == dict.fromkeys(names, True)
    members = _etcd_members(next(iter(planes.values())))
    assert {m.get("name") for m in members} == names, members
    assert not [m for m in members if m.get("isLearner")], members
    for name, host in planes.items():
        assert host.exec("curl", "-sk", "https://127.0.0.1:6443/readyz").stdout == "ok", name
    cluster.wait_for("HAProxy sees every API server", lambda: balancer.up_backends() == names, timeout=30)
    server = cluster.kubectl("config", "view", "-o", "jsonpath={.clusters[0].cluster.server}")
    assert server == f"https://{balancer.endpoint}"


def test_every_worker_joins_on_the_overlay_as_the_shipped_inventory_describes(built: Built) -> None:
    """Every node carries a vxlan lease; flanneld pods run on the four Linux nodes only. Each Windows Node
    has its build's label, the inventory's labels, and exactly hybridctl's ``os=windows`` taint plus the
    inventory's taints (win2025's ``example.com/dedicated=batch``); its machine has Hyper-V installed (the
    inventory offers hyperv isolation) and flanneld's Overlay network on the Node's pod CIDR. A process
    and a Hyper-V RuntimeClass exist for each of the three builds."""
    cluster, _, windows = built
    nodes = cluster.wait_for("every node has a vxlan lease", lambda: _leased(cluster), timeout=300)
    flannel = json.loads(cluster.kubectl("get", "pods", "-n", "kube-flannel", "-o", "json"))["items"]
    assert sorted(p["spec"]["nodeName"] for p in flannel) == sorted(cluster.linux)
    for entry in _shipped_hosts("windows"):
        name, node = entry["name"], nodes[entry["name"]]
        labels = node["metadata"]["labels"]
        assert labels["node.kubernetes.io/windows-build"] == WINDOWS_BUILDS[entry["windowsVersion"]], name
        assert entry.get("labels", {}).items() <= labels.items(), name
        inventory = {(t["key"], t["value"], t["effect"]) for t in entry.get("taints", [])}
        assert _taints(node) == {("os", "windows", "NoSchedule"), *inventory}, name
        assert node["metadata"]["annotations"][ANNOTATION + "backend-type"] == "vxlan", name
        machine = windows.nodes[name].host.machine
        assert machine.feature_states.get("Hyper-V") == "Installed", name
        overlay = machine.hns_networks["flannel.4096"]
        assert (str(overlay["type"]).lower(), overlay["addressPrefix"]) == (
            "overlay",
            node["spec"]["podCIDR"],
        )
    years = {entry["windowsVersion"] for entry in _shipped_hosts("windows")}
    expected = {f"windows-{year}" for year in years} | {f"windows-hyperv-{year}" for year in years}
    assert expected <= _runtime_classes(cluster)


def test_smoke_passes_across_all_seven_nodes(built: Built) -> None:
    """``hybridctl smoke`` passes every check: pod-to-pod for all 42 ordered node pairs over the overlay
    (Linux↔Linux, Linux↔Windows, Windows↔Windows), workloads through every RuntimeClass (process and
    Hyper-V per build), the Services of each OS from the other, DNS, egress."""
    cluster, _, _ = built
    cases = _smoke_passes(cluster, "smoke-ha.xml")
    nodes = sorted(_nodes(cluster))
    assert len(nodes) == 7
    assert {("pod-to-pod", f"{a} -> {b}") for a in nodes for b in nodes if a != b} <= set(cases)


def _renewals(cluster: RealCluster, names: list[str]) -> dict[str, str]:
    """Node name -> its Lease's renewTime (the kubelet renews it through the endpoint)."""
    items = json.loads(cluster.kubectl("get", "leases", "-n", "kube-node-lease", "-o", "json"))["items"]
    return {i["metadata"]["name"]: i["spec"]["renewTime"] for i in items if i["metadata"]["name"] in names}


def test_the_api_keeps_working_while_the_first_control_plane_is_down(built: Built) -> None:
    """With the first control plane's API server and etcd member stopped (their static pod manifests moved
    away, so its kubelet stops them), writes and reads through the endpoint still succeed: etcd keeps quorum
    with two of three (after electing a leader if the stopped member led, which the test waits for), and
    HAProxy stops sending to the stopped API server. Meanwhile every Windows kubelet keeps renewing its
    node Lease: it reaches the API through the endpoint, not the first control plane. Moved back, the
    first control plane rejoins."""
    cluster, balancer, _ = built
    planes = _control_planes(cluster)
    (first_name, first), others = next(iter(planes.items())), set(list(planes)[1:])
    windows = [entry["name"] for entry in _shipped_hosts("windows")]
    manifests = ("kube-apiserver.yaml", "etcd.yaml")
    first.exec("mkdir", "-p", MOVED)
    for name in manifests:
        first.exec("mv", f"/etc/kubernetes/manifests/{name}", f"{MOVED}/{name}")
    try:
        cluster.wait_for("HAProxy marks the first API server down", lambda: balancer.up_backends() == others)
        # Each write may need a retry: etcd elects a new leader if the stopped member led, and under load a
        # request in flight was seen to end with "unexpected EOF"; apply is idempotent, so a retry is safe.
        for attempt in range(4):
            written = _apply_configmap(cluster, f"while-down-{attempt}")
            cluster.wait_for(f"write {attempt} through the endpoint", written, timeout=60)
            assert cluster.kubectl("get", "configmap", f"while-down-{attempt}", "-o", "name")
        assert set(_control_plane_nodes(cluster)) == set(planes)
        before = cluster.wait_for(
            "the Windows nodes' Leases", lambda: _renewals(cluster, windows), timeout=60
        )

        def renewed() -> bool:
            now = _renewals(cluster, windows)
            return all(now.get(name, before[name]) > before[name] for name in windows)

        cluster.wait_for("every Windows kubelet renews its Lease through the endpoint", renewed, timeout=90)
    finally:
        for name in manifests:
            first.exec("mv", f"{MOVED}/{name}", f"/etc/kubernetes/manifests/{name}", check=False)
    everyone = set(planes)
    cluster.wait_for("the first API server back in HAProxy", lambda: balancer.up_backends() == everyone)
    assert {m.get("name") for m in _etcd_members(first)} == everyone, first_name


def _apply_configmap(cluster: RealCluster, name: str) -> Callable[[], str]:
    """A probe that applies ConfigMap ``name`` (kubectl apply: repeating it is harmless)."""
    path = cluster.workdir / f"{name}.yaml"
    document = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
    path.write_text(json.dumps(document))
    return lambda: cluster.kubectl("apply", "-f", str(path))


def test_a_second_up_changes_nothing(built: Built) -> None:
    """``up`` on the converged cluster (control planes, Linux and Windows workers) reports no change."""
    cluster, _, _ = built
    again = cluster.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert changed_steps(again.stdout) == []


def test_down_of_one_control_plane_removes_its_node_and_etcd_member(built: Built) -> None:
    """``down NAME`` of the third control plane drains it and runs ``kubeadm reset``, which removes its etcd
    member: etcd has two voting members, the Node is gone, its static pods and etcd data are gone, and the
    API still answers through the endpoint; every remaining node stays Ready."""
    cluster, balancer, _ = built
    planes = _control_planes(cluster)
    names = list(planes)
    third = planes[names[2]]
    result = cluster.hybridctl("down", "--yes", names[2], "--output", "json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    remaining = set(names[:2])
    assert {m.get("name") for m in _etcd_members(planes[names[0]])} == remaining
    assert set(_control_plane_nodes(cluster)) == remaining
    gone = ("/etc/kubernetes/manifests/etcd.yaml", "/var/lib/etcd/member", "/etc/kubernetes/kubelet.conf")
    for path in gone:
        assert third.exec("test", "-e", path, check=False).returncode != 0, path
    cluster.wait_for("HAProxy drops the reset API server", lambda: balancer.up_backends() == remaining)
    cluster.kubectl("create", "configmap", "after-down", "--from-literal=k=v")
    nodes = _nodes(cluster)
    assert names[2] not in nodes and all(_ready(node) for node in nodes.values())
