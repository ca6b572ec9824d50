"""kubeadm init/join, pod CIDRs, the routes-mode pod network and the cluster steps on three test hosts.

Tier: lab. Real: OpenSSH test hosts, paramiko, the Runner, kernel routes (``ip route`` with hybridctl's
protocol marker) and iptables NAT rules in each host's network namespace, the real CNI plugins on disk,
file modes. Simulated (tests/lab/linux_sim): kubeadm, kubectl and the kubelet over the shared cluster
model (nodes, pod CIDR allocation, tokens, readiness), systemctl, apt and the containerd stand-in.
"""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from hybridctl.steps import cluster as cluster_steps
from hybridctl.steps import linux
from hybridctl.steps.context import JOINING, RunState
from hybridctl.steps.values import JOIN
from tests.lab.linux_sim.lab import (
    SimLab,
    bootstrap,
    host_snapshot,
    run_steps,
    up_steps,
)
from tests.support.hosts_fixtures import RecordingLog
from tests.support.linux_hosts import TestHost


def _routes(host: TestHost) -> dict[str, str]:
    out = host.exec("ip", "-4", "-j", "route", "show", "proto", "233").stdout
    return {r["dst"]: r["gateway"] for r in json.loads(out)}


def test_three_nodes_join_get_pod_cidrs_routes_and_a_second_run_changes_nothing(
    lab: SimLab, tmp_path: Path
) -> None:
    log = RecordingLog()
    hosts = lab.add(3)
    cluster = lab.cluster([(hosts[0], "control-plane"), (hosts[1], "worker"), (hosts[2], "worker")])
    options = {"state_dir": str(tmp_path)}
    first = run_steps(lab, cluster, up_steps(), options=options, log=log)
    first.assert_ok()

    nodes = lab.model.nodes()
    assert sorted(nodes) == sorted(h.name for h in hosts)
    cidrs = {name: node["podCIDR"] for name, node in nodes.items()}
    assert len(set(cidrs.values())) == 3 and all(c.startswith("10.244.") for c in cidrs.values())
    assert all(node["ready"] for node in nodes.values())
    for host in hosts:
        wanted = {cidrs[o.name]: o.address for o in hosts if o is not host}
        assert _routes(host) == wanted
        nat = host.exec("iptables", "-w", "-t", "nat", "-S").stdout
        assert f"-A HYBRIDCTL-POD-MASQ ! -s {cidrs[host.name]} -j RETURN" in nat
        assert host.exec("test", "-e", "/etc/kubernetes/hybridctl/kubeadm-join.yaml", check=False).returncode
    assert not [t for t in lab.model.tokens().values() if t["description"] == "hybridctl join token"]
    kubeconfig = tmp_path / "admin.conf"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert kubeconfig.read_text() == hosts[0].exec("cat", "/etc/kubernetes/admin.conf").stdout
    token = first.ctx.state.get(JOIN).token.get_secret_value()
    assert token not in log.text, "the join token reached the command log"

    before = {h.name: host_snapshot(lab, h) for h in hosts}
    plan = run_steps(lab, cluster, up_steps(), options=options, read_only=True)
    plan.assert_ok()
    assert plan.changed() == {}
    assert {h.name: host_snapshot(lab, h) for h in hosts} == before
    again = run_steps(lab, cluster, up_steps(), options=options)
    again.assert_ok()
    assert again.changed() == {}


def test_routes_deleted_or_added_by_hand_and_a_lost_masquerade_rule_are_changes(
    lab: SimLab, tmp_path: Path
) -> None:
    built = bootstrap(lab, 2, tmp_path)
    cp, worker, _ = built.hosts
    lost = next(iter(_routes(worker)))
    worker.exec("ip", "route", "del", lost)
    worker.exec("ip", "route", "add", "10.244.99.0/24", "via", cp.address, "proto", "233")
    worker.exec("iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-j", "HYBRIDCTL-POD-MASQ")
    network = [cluster_steps.POD_CIDRS, *linux.NETWORK]
    found = run_steps(lab, built.cluster, network, read_only=True).changed()
    summaries = found[(worker.name, "linux-pod-network")]
    assert any(summary.startswith(f"route {lost} via ") for summary in summaries)
    assert "remove stale route 10.244.99.0/24 via " + cp.address in summaries
    assert "set the HYBRIDCTL-POD-MASQ masquerade rules" in summaries
    assert set(found) == {(worker.name, "linux-pod-network")}
    run_steps(lab, built.cluster, network).assert_ok()
    assert "10.244.99.0/24" not in _routes(worker) and lost in _routes(worker)
    assert run_steps(lab, built.cluster, network).changed() == {}


def test_a_half_joined_worker_is_reset_and_joined_again(lab: SimLab, tmp_path: Path) -> None:
    built = bootstrap(lab, 1, tmp_path)
    worker = built.hosts[1]
    worker.exec("rm", "/etc/kubernetes/kubelet.conf")
    plan = run_steps(lab, built.cluster, up_steps(), options=built.options, read_only=True).changed()
    assert plan[(worker.name, "kubeadm-join")] == [
        "kubeadm reset and join again as a worker (found a Node object without kubelet.conf)"
    ]
    run_steps(lab, built.cluster, up_steps(), options=built.options).assert_ok()
    assert worker.exec("test", "-s", "/etc/kubernetes/kubelet.conf", check=False).returncode == 0
    assert run_steps(lab, built.cluster, up_steps(), options=built.options).changed() == {}


def test_pod_cidrs_refuses_a_node_without_one(lab: SimLab, tmp_path: Path) -> None:
    built = bootstrap(lab, 1, tmp_path)
    lab.model.update_node(built.hosts[1].name, podCIDR=None)
    result = run_steps(lab, built.cluster, [cluster_steps.PodCidrs(wait=0)], read_only=True)
    error = result.failures()[(built.hosts[0].name, "pod-cidrs")]
    assert built.hosts[1].name in error and "node.spec.podCIDR" in error
    assert "allocate-node-cidrs" in (result.report.results[0].hint or "")


def test_the_plan_waits_for_a_node_that_registered_moments_ago(lab: SimLab, tmp_path: Path) -> None:
    """An ``up`` killed right after ``kubeadm init`` leaves a registered node whose CIDR the
    controller-manager has not allocated yet; the next plan waits for it instead of failing (seen in
    the real lab's interrupted vxlan ``up``, seed 3769). Simulated: the control plane (cluster model)."""
    built = bootstrap(lab, 1, tmp_path)
    name = built.hosts[1].name
    cidr = lab.model.nodes()[name]["podCIDR"]
    lab.model.update_node(name, podCIDR=None)
    allocate = threading.Timer(3.0, lambda: lab.model.update_node(name, podCIDR=cidr))
    allocate.start()
    try:
        result = run_steps(lab, built.cluster, [cluster_steps.PodCidrs(wait=30)], read_only=True)
    finally:
        allocate.cancel()
    assert result.failures() == {}
    assert (built.hosts[0].name, "pod-cidrs") in {(r.host, r.step) for r in result.report.results}


def test_a_host_the_run_does_not_join_is_left_alone_and_named(lab: SimLab, tmp_path: Path) -> None:
    """The inventory lists a host that is not a node (never joined, or removed with ``down NAME``).
    ``add-node`` of another host and ``down NAME`` (``JOINING`` = what they join) neither wait for it
    (pod CIDR, Ready) nor configure its pod network, and the plan names it in a warning; ``up``
    (``JOINING`` = None) still refuses to build the pod network without it. Real: SSH test hosts, kernel
    routes; simulated: the control plane (cluster model), kubeadm and the kubelet."""
    built = bootstrap(lab, 1, tmp_path)
    (stranger,) = lab.add(1)
    members = [(built.hosts[0], "control-plane"), (built.hosts[1], "worker"), (stranger, "worker")]
    cluster = lab.cluster(members)
    ready = cluster_steps.NodesReady(linux_timeout=10, windows_timeout=10)
    steps = [cluster_steps.PodCidrs(wait=3), *linux.NETWORK, ready, cluster_steps.JoinCleanup()]
    for read_only in (True, False):
        state = RunState({JOINING: frozenset()})
        run = run_steps(lab, cluster, steps, options=built.options, state=state, read_only=read_only)
        run.assert_ok()
        assert run.changed() == {}
    warnings = [
        e.data
        for e in run_steps(
            lab, cluster, steps, options=built.options, state=RunState({JOINING: frozenset()}), read_only=True
        ).events.of_kind("warning")
    ]
    assert [w["host"] for w in warnings] == [built.hosts[0].name]
    assert f"not nodes of the cluster: {stranger.name}" in warnings[0]["message"]
    assert stranger.exec("test", "-e", "/etc/cni/net.d", check=False).returncode != 0
    assert _routes(stranger) == {}
    refused = run_steps(lab, cluster, steps, options=built.options, state=RunState({JOINING: None}))
    assert "nodes not registered with the cluster" in refused.failures()[(built.hosts[0].name, "pod-cidrs")]


def test_inventory_labels_and_taints_are_applied_and_nodes_removed(lab: SimLab, tmp_path: Path) -> None:
    hosts = lab.add(2)
    worker_entry = (hosts[1], "worker")
    cluster = lab.cluster([(hosts[0], "control-plane"), worker_entry])
    data = cluster.model_dump(by_alias=True)
    data["spec"]["hosts"][1]["labels"] = {"example.com/pool": "general", "node-role.kubernetes.io/worker": ""}
    data["spec"]["hosts"][1]["taints"] = [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
    cluster = type(cluster).model_validate(data)
    run_steps(lab, cluster, up_steps(), options={"state_dir": str(tmp_path)}).assert_ok()
    node = lab.model.nodes()[hosts[1].name]
    assert node["labels"]["example.com/pool"] == "general"
    assert node["labels"]["node-role.kubernetes.io/worker"] == ""
    assert {"key": "dedicated", "value": "batch", "effect": "NoSchedule"} in node["taints"]
    assert run_steps(lab, cluster, up_steps(), options={"state_dir": str(tmp_path)}).changed() == {}

    # A label removed from the inventory is taken off the node by the next up; one set by someone else stays.
    lab.model.update_node(hosts[1].name, labels={**lab.model.nodes()[hosts[1].name]["labels"], "team": "x"})
    del data["spec"]["hosts"][1]["labels"]["example.com/pool"]
    cluster = type(cluster).model_validate(data)
    run_steps(lab, cluster, up_steps(), options={"state_dir": str(tmp_path)}).assert_ok()
    labels = lab.model.nodes()[hosts[1].name]["labels"]
    assert "example.com/pool" not in labels
    assert labels["node-role.kubernetes.io/worker"] == "" and labels["team"] == "x"
    assert run_steps(lab, cluster, up_steps(), options={"state_dir": str(tmp_path)}).changed() == {}

    remove = [cluster_steps.REMOVE_NODES]
    plan = run_steps(lab, cluster, remove, hosts=[cluster.hosts[1]], read_only=True).changed()
    assert plan == {(hosts[1].name, "remove-node"): [f"drain and delete node {hosts[1].name}"]}
    run_steps(lab, cluster, remove, hosts=[cluster.hosts[1]]).assert_ok()
    assert hosts[1].name not in lab.model.nodes()
    assert run_steps(lab, cluster, remove, hosts=[cluster.hosts[1]]).changed() == {}


@pytest.mark.parametrize("version", ["1.35.10"])
def test_the_oldest_supported_minor_bootstraps(lab: SimLab, tmp_path: Path, version: str) -> None:
    built = bootstrap(lab, 1, tmp_path, kubernetes={"version": version})
    init = built.hosts[0].exec("cat", "/etc/kubernetes/hybridctl/kubeadm-init.yaml").stdout
    assert "kubeadm.k8s.io/v1beta4" in init
    assert lab.model.cluster()["version"] == version


@pytest.mark.parametrize(
    ("built_at", "asked", "word"), [("1.36.6", "1.37.2", "upgrades"), ("1.37.2", "1.36.6", "downgrades")]
)
def test_a_version_change_on_an_existing_cluster_is_refused_before_anything_changes(
    lab: SimLab, tmp_path: Path, built_at: str, asked: str, word: str
) -> None:
    """Upgrades are not supported yet: changing spec.kubernetes.version of a running cluster must not
    half-upgrade it. Real: test hosts, SSH, files on the hosts; simulated: the API server's /version
    (the release the simulated kubeadm initialised) and apt/dpkg."""
    built = bootstrap(lab, 1, tmp_path, kubernetes={"version": built_at})
    members = [(built.hosts[0], "control-plane"), (built.hosts[1], "worker")]
    changed = lab.cluster(members, kubernetes={"version": asked})
    packages = run_steps(lab, changed, [linux.KubePackages()], options=built.options).failures()
    for host in built.hosts:
        assert f"with kubeadm {built_at}" in packages[(host.name, "kube-packages")]
        assert f"the inventory asks for {asked}" in packages[(host.name, "kube-packages")]
    init = run_steps(lab, changed, [linux.KubeadmInit()], options=built.options).failures()
    message = init[(built.hosts[0].name, "kubeadm-init")]
    assert f"runs Kubernetes {built_at}" in message and f"{word} are not supported yet" in message
    assert run_steps(lab, built.cluster, up_steps(), options=built.options).changed() == {}, "nothing moved"
