"""How ``hybridctl status`` judges health: version skew, readiness, services, RuntimeClasses, reachability.

Tier: unit. Real: ``hybridctl.health`` on records shaped like the ``cluster-status`` and ``host-status``
probes' (kubectl's Node and RuntimeClass JSON, the host probes' fields). Simulated: the records
themselves (the lab test tests/lab/test_day2.py produces them from running hosts).
"""

from __future__ import annotations

from typing import Any

import pytest

from hybridctl.health import evaluate, skew_problem
from hybridctl.inventory.models import Cluster

LINUX_SERVICES = {"kubelet": "active", "containerd": "active"}


def _cluster() -> Cluster:
    hosts = [
        {"name": "cp1", "address": "10.0.0.10", "role": "control-plane", "os": "linux", "ssh": {}},
        {"name": "win1", "address": "10.0.0.20", "role": "worker", "os": "windows", "windowsVersion": 2022},
    ]
    data = {
        "apiVersion": "hybridctl.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": "t"},
        "spec": {"kubernetes": {"version": "1.34.2"}, "hosts": hosts},
    }
    return Cluster.model_validate(data)


def _node(name: str, kubelet: str = "v1.34.2", *, ready: bool = True, labels: Any = None) -> dict[str, Any]:
    condition = {"type": "Ready", "status": str(ready), "reason": "R", "message": "m"}
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "podCIDR": "10.244.0.0/24",
            "taints": [{"key": "os", "value": "windows", "effect": "NoSchedule"}],
        },
        "status": {"conditions": [condition], "nodeInfo": {"kubeletVersion": kubelet}},
    }


def _api(**changes: Any) -> dict[str, Any]:
    windows_labels = {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"}
    runtime_class = {
        "metadata": {"name": "windows-2022"},
        "scheduling": {"nodeSelector": windows_labels},
    }
    api = {
        "initialised": True,
        "readyz": "ok",
        "serverVersion": "v1.34.2",
        "nodes": [_node("cp1"), _node("win1", labels=windows_labels)],
        "runtimeClasses": [runtime_class],
        "kubeProxyImage": "registry.k8s.io/kube-proxy:v1.34.2",
    }
    return {**api, **changes}


def _hosts() -> dict[str, Any]:
    windows = {"kubelet": "active", "kube-proxy": "active", "containerd": "active"}
    return {
        "cp1": {
            "os": "Debian",
            "build": "6.1",
            "versions": {"kubelet": "1.34.2"},
            "services": LINUX_SERVICES,
        },
        "win1": {
            "os": "Windows",
            "build": "10.0.20348",
            "versions": {"kubelet": "1.34.2", "kube-proxy": "1.34.2"},
            "services": windows,
        },
    }


def test_a_healthy_cluster_has_no_findings() -> None:
    report = evaluate(_cluster(), _api(), _hosts(), {})
    assert report.healthy, report.problems
    assert report.warnings == []
    win = report.nodes[1]
    assert win.runtime_classes == ["windows-2022"] and win.taints == ["os=windows:NoSchedule"]
    assert report.nodes[0].kube_proxy == "1.34.2" and win.kube_proxy == "1.34.2"


@pytest.mark.parametrize(
    ("version", "server", "expected"),
    [
        ("1.34.2", "1.34.0", None),
        ("1.31.9", "1.34.2", None),
        ("1.35.0", "1.34.2", "newer than the API server 1.34.2"),
        ("1.30.1", "1.34.2", "more than 3 minor versions older"),
    ],
)
def test_skew_policy(version: str, server: str, expected: str | None) -> None:
    found = skew_problem("kubelet", version, server)
    assert (found is None) if expected is None else (expected in (found or ""))


def test_problems_name_the_node_and_the_reason() -> None:
    hosts = _hosts()
    hosts["cp1"] = {**hosts["cp1"], "services": {"kubelet": "inactive", "containerd": "active"}}
    nodes = [_node("cp1", "v1.35.0", ready=False)]
    report = evaluate(_cluster(), _api(nodes=nodes, readyz="[-]etcd failed", runtimeClasses=[]), hosts, {})
    messages = [str(p) for p in report.problems]
    assert "cp1: NotReady: R: m" in messages
    assert "cp1: kubelet is inactive on the host" in messages
    assert "cp1: version skew: kubelet 1.35.0 is newer than the API server 1.34.2" in messages
    assert "win1: no Node object: the host has not joined the cluster" in messages
    assert "cluster: the API server is not ready: [-]etcd failed" in messages
    assert "cluster: RuntimeClass windows-2022 is missing (hybridctl up adds it)" in messages
    assert "cp1: the kubelet binary is 1.34.2, the running kubelet reports 1.35.0 (restart it)" in [
        str(w) for w in report.warnings
    ]


def test_an_unreachable_host_is_a_problem_and_the_cluster_without_its_api_too() -> None:
    report = evaluate(_cluster(), None, {"cp1": None, "win1": None}, {"cp1": "unreachable: timed out"})
    assert [str(p) for p in report.problems][:2] == [
        "cluster: not inspected: unreachable: timed out",
        "cp1: host not inspected: unreachable: timed out",
    ]
    assert report.to_json()["healthy"] is False
