"""Checks of the cluster's objects: nodes and versions, the Windows taint, RuntimeClasses, where pods run."""

from __future__ import annotations

from typing import Any

from hybridctl.render.cluster import runtime_classes
from hybridctl.render.context import WINDOWS_TAINT
from hybridctl.smoke.report import CheckFailedError
from hybridctl.smoke.state import SmokeRun
from hybridctl.smoke.workloads import Workload
from hybridctl.steps.kube import is_ready

LINUX_ONLY = {"kube-proxy": "k8s-app=kube-proxy", "CoreDNS": "k8s-app=kube-dns"}
"""kubeadm's Linux-only system workloads and their pods' labels (kubeadm's addon manifests)."""


def check_nodes(run: SmokeRun) -> None:
    """Every inventory host is a Ready node running the inventory's kubelet and containerd versions."""
    for host in run.cluster.hosts:
        with run.report.check("nodes", host.name):
            _node(run, host.name)


def _node(run: SmokeRun, name: str) -> None:
    node = run.nodes.get(name)
    if node is None:
        raise CheckFailedError(
            f"{name} is not a node of the cluster", f"nodes: {', '.join(sorted(run.nodes))}"
        )
    info = node.get("status", {}).get("nodeInfo", {})
    wanted = {
        "kubelet": (info.get("kubeletVersion"), f"v{run.cluster.spec.kubernetes.version}"),
        "containerd": (info.get("containerRuntimeVersion"), f"containerd://{run.cluster.containerd_version}"),
    }
    problems = [
        f"{what} {found} (expected {expected})"
        for what, (found, expected) in wanted.items()
        if found != expected
    ]
    if not is_ready(node):
        problems.insert(0, "not Ready")
    if problems:
        raise CheckFailedError(f"{name}: " + "; ".join(problems), _conditions(node))


def _conditions(node: dict[str, Any]) -> str:
    lines = [
        f"  {c.get('type')}={c.get('status')} {c.get('reason', '')}: {c.get('message', '')}"
        for c in node.get("status", {}).get("conditions", [])
    ]
    return "node conditions:\n" + ("\n".join(lines) or "  (none)")


def check_windows_taints(run: SmokeRun) -> None:
    """Every Windows node carries hybridctl's taint ``os=windows:NoSchedule``."""
    for host in run.cluster.windows_hosts:
        with run.report.check("windows-taint", host.name):
            taints = (run.nodes.get(host.name) or {}).get("spec", {}).get("taints") or []
            if not any(_same_taint(t) for t in taints):
                shown = ", ".join(f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}" for t in taints)
                raise CheckFailedError(
                    f"{host.name} lacks the taint os=windows:NoSchedule", f"taints: {shown or 'none'}"
                )


def _same_taint(taint: dict[str, Any]) -> bool:
    return all(taint.get(k, "") == v for k, v in WINDOWS_TAINT.items())


def check_runtime_classes(run: SmokeRun) -> None:
    """Every RuntimeClass hybridctl creates exists with its handler and Windows build."""
    live = {item["metadata"]["name"]: item for item in run.access.items("runtimeclasses")}
    for spec in runtime_classes(run.cluster, run.values):
        with run.report.check("runtimeclass", spec.name):
            found = live.get(spec.name)
            if found is None:
                raise CheckFailedError(
                    f"RuntimeClass {spec.name} does not exist",
                    f"RuntimeClasses: {', '.join(sorted(live)) or 'none'}",
                )
            selector = (found.get("scheduling") or {}).get("nodeSelector") or {}
            seen = (found.get("handler"), selector.get("node.kubernetes.io/windows-build"))
            if seen != (spec.handler, spec.build):
                raise CheckFailedError(
                    f"RuntimeClass {spec.name}: handler/build {seen}, expected {(spec.handler, spec.build)}"
                )


def check_placement(run: SmokeRun) -> None:
    """Each smoke DaemonSet has one running pod on every node of its OS (and build) and none elsewhere."""
    for workload in run.workloads:
        with run.report.check("placement", workload.name):
            _placement(run, workload)


def _placement(run: SmokeRun, workload: Workload) -> None:
    expected = {h.name for h in run.expected_hosts(workload)}
    pods = [p for p in run.pods if p.klass == workload.klass]
    actual = {p.node for p in pods}
    problems = []
    if actual - expected:
        problems.append(
            f"pods on {', '.join(sorted(actual - expected))}, which are not {workload.os} nodes of this class"
        )
    if expected - actual:
        problems.append(f"no pod on {', '.join(sorted(expected - actual))}")
    waiting = [p for p in pods if not p.ready]
    if waiting:
        problems.append(f"not ready: {', '.join(f'{p.name} on {p.node} ({p.phase})' for p in waiting)}")
    if problems:
        evidence = [run.access.evidence(p) for p in waiting] + [run.access.events(workload.name)]
        raise CheckFailedError(f"{workload.name}: " + "; ".join(problems), "\n".join(evidence))


def check_linux_only(run: SmokeRun) -> None:
    """kube-proxy and CoreDNS have no pod on a Windows node."""
    windows = {h.name for h in run.cluster.windows_hosts}
    for name, selector in LINUX_ONLY.items():
        with run.report.check("linux-only", name):
            pods = run.access.items("pods", "-n", "kube-system", "-l", selector)
            wrong = [p["metadata"]["name"] for p in pods if p.get("spec", {}).get("nodeName") in windows]
            if wrong:
                raise CheckFailedError(f"{name} has pods on Windows nodes: {', '.join(wrong)}")
            if not pods:
                raise CheckFailedError(f"{name} has no pod at all (label {selector} in kube-system)")
