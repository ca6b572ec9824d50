"""Tier: lab, real Kubernetes, HA: three control planes behind a real load balancer, built by ``up``.

Real: the unmodified ``hybridctl`` CLI over SSH to three Debian 12 hosts booted by systemd-nspawn (systemd,
sshd, apt, units); ``kubeadm init --upload-certs`` on the first and ``kubeadm join --control-plane`` with
the certificate key on the others, through the inventory's ``controlPlaneEndpoint``; etcd (one member per
control plane, joined as learners and promoted by kubeadm), kube-apiserver, controller-manager and
scheduler as static pods from the lab registry; HAProxy (Debian's package) in front of the API servers,
checking ``/healthz`` as kubeadm's HA guide describes (``loadbalancer.py``); etcd's own member list read
from its client API with kubeadm's healthcheck client certificate; ``kubeadm reset`` removing the etcd
member in ``down NAME``. Nothing is emulated; there are no Windows nodes in this cluster (the hybrid tests
cover them, and a Windows node reaches the API through the same endpoint the kubelet kubeconfig names).

The tests run in order on one cluster (module scope): up, losing a control plane, a second up, down of one
control plane.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.lab.e2e import changed_steps
from tests.lab.real.artifacts import LabBinaries
from tests.lab.real.cluster import RealCluster
from tests.lab.real.hosts import SystemdHost, SystemdHosts
from tests.lab.real.loadbalancer import LoadBalancer
from tests.lab.real.sources import LabSources
from tests.support.ci import require_tool

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]

ETCD_PKI = "/etc/kubernetes/pki/etcd"
MOVED = "/root/moved-manifests"


class HaCluster(RealCluster):
    """The real cluster with the load balancer's address as ``controlPlaneEndpoint``."""

    endpoint: str = ""

    def document(self) -> dict[str, Any]:
        """The inventory of the base cluster, plus the endpoint."""
        document = super().document()
        document["spec"]["kubernetes"]["controlPlaneEndpoint"] = self.endpoint
        return document


@pytest.fixture(scope="module")
def ha(
    lab_binaries: LabBinaries,
    lab_sources: LabSources,
    systemd_lab: SystemdHosts,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[HaCluster, LoadBalancer]]:
    """Three booted hosts, all control planes, behind HAProxy; inventory written, nothing installed."""
    require_tool("haproxy", "apt install haproxy (the HA lab's load balancer)")
    hosts = systemd_lab.add(3)
    workdir = tmp_path_factory.mktemp("ha-cluster")
    try:
        backends = [(h.name, h.address) for h in hosts]
        with LoadBalancer(workdir, systemd_lab.addressing.gateway, backends) as balancer:
            members = [(h, "control-plane") for h in hosts]
            cluster = HaCluster(workdir, members, lab_sources, lab_binaries.kubernetes / "kubectl")
            cluster.endpoint = balancer.endpoint
            cluster.write_inventory()
            yield cluster, balancer
    finally:
        systemd_lab.remove(hosts)


@pytest.fixture(scope="module")
def built(ha: tuple[HaCluster, LoadBalancer]) -> tuple[HaCluster, LoadBalancer]:
    """The cluster after one ``hybridctl up``; its wall time is printed (``-s`` shows it)."""
    cluster, _ = ha
    started = time.monotonic()
    result = cluster.hybridctl("up", "--yes")
    elapsed = time.monotonic() - started
    print(f"\nhybridctl up (3 control planes behind HAProxy, real Kubernetes): {elapsed:.1f} s")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return ha


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


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def test_up_joins_three_control_planes_as_etcd_voters_behind_the_endpoint(
    built: tuple[HaCluster, LoadBalancer],
) -> None:
    """Every host is a Ready control-plane node, etcd has three started voting members (no learner left),
    each host's own API server is ready, HAProxy sees all three pass /healthz, and the admin kubeconfig
    ``up`` fetched talks to the load balancer, not to one control plane."""
    cluster, balancer = built
    names = {h.name for h in cluster.hosts}
    assert _control_plane_nodes(cluster) == dict.fromkeys(names, True)
    members = _etcd_members(cluster.hosts[0])
    assert {m.get("name") for m in members} == names, members
    assert not [m for m in members if m.get("isLearner")], members
    for host in cluster.hosts:
        assert host.exec("curl", "-sk", "https://127.0.0.1:6443/readyz").stdout == "ok", host.name
    cluster.wait_for("HAProxy sees every API server", lambda: balancer.up_backends() == names, timeout=30)
    server = cluster.kubectl("config", "view", "-o", "jsonpath={.clusters[0].cluster.server}")
    assert server == f"https://{balancer.endpoint}"


def test_the_api_keeps_working_while_the_first_control_plane_is_down(
    built: tuple[HaCluster, LoadBalancer],
) -> None:
    """With the first control plane's API server and etcd member stopped (their static pod manifests moved
    away, so its kubelet stops them), writes and reads through the endpoint still succeed: etcd keeps quorum
    with two of three (after electing a leader if the stopped member led, which the test waits for), and
    HAProxy stops sending to the stopped API server. Moved back, it rejoins."""
    cluster, balancer = built
    first = cluster.hosts[0]
    others = {h.name for h in cluster.hosts[1:]}
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
        assert set(_control_plane_nodes(cluster)) == {h.name for h in cluster.hosts}
    finally:
        for name in manifests:
            first.exec("mv", f"{MOVED}/{name}", f"/etc/kubernetes/manifests/{name}", check=False)
    everyone = {h.name for h in cluster.hosts}
    cluster.wait_for("the first API server back in HAProxy", lambda: balancer.up_backends() == everyone)
    assert {m.get("name") for m in _etcd_members(first)} == everyone


def _apply_configmap(cluster: RealCluster, name: str) -> Callable[[], str]:
    """A probe that applies ConfigMap ``name`` (kubectl apply: repeating it is harmless)."""
    path = cluster.workdir / f"{name}.yaml"
    document = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
    path.write_text(json.dumps(document))
    return lambda: cluster.kubectl("apply", "-f", str(path))


def test_a_second_up_changes_nothing(built: tuple[HaCluster, LoadBalancer]) -> None:
    """``up`` on the converged HA cluster reports no change and exits 0."""
    cluster, _ = built
    again = cluster.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert changed_steps(again.stdout) == []


def test_down_of_one_control_plane_removes_its_node_and_etcd_member(
    built: tuple[HaCluster, LoadBalancer],
) -> None:
    """``down NAME`` of the third control plane drains it and runs ``kubeadm reset``, which removes its etcd
    member: etcd has two voting members, the Node is gone, its static pods and etcd data are gone, and the
    API still answers through the endpoint."""
    cluster, balancer = built
    third = cluster.hosts[2]
    result = cluster.hybridctl("down", "--yes", third.name, "--output", "json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    remaining = {h.name for h in cluster.hosts[:2]}
    assert {m.get("name") for m in _etcd_members(cluster.hosts[0])} == remaining
    assert set(_control_plane_nodes(cluster)) == remaining
    gone = ("/etc/kubernetes/manifests/etcd.yaml", "/var/lib/etcd/member", "/etc/kubernetes/kubelet.conf")
    for path in gone:
        assert third.exec("test", "-e", path, check=False).returncode != 0, path
    cluster.wait_for("HAProxy drops the reset API server", lambda: balancer.up_backends() == remaining)
    cluster.kubectl("create", "configmap", "after-down", "--from-literal=k=v")
