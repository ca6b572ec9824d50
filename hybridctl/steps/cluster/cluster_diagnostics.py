"""``collect-cluster``: the cluster's share of the support bundle, through kubectl on the first control plane.

Nodes, events of every namespace, kube-system pods, RuntimeClasses and DaemonSets as JSON (read-only).
"""

from __future__ import annotations

from typing import ClassVar

from hybridctl.steps import kube
from hybridctl.steps.base import Change
from hybridctl.steps.cluster.common import ClusterStep
from hybridctl.steps.context import StepContext
from hybridctl.steps.diagnostics import record
from hybridctl.steps.host import HostHandle, HostView

CLUSTER = "cluster"
"""The bundle's folder (and ``bundle_key``) for what the API says."""
QUERIES: dict[str, tuple[str, ...]] = {
    "nodes.json": ("get", "nodes"),
    "events.json": ("get", "events", "--all-namespaces"),
    "kube-system-pods.json": ("get", "pods", "-n", "kube-system"),
    "runtimeclasses.json": ("get", "runtimeclasses"),
    "kube-system-daemonsets.json": ("get", "daemonsets", "-n", "kube-system"),
}


class CollectCluster(ClusterStep):
    """Read the cluster's objects for the bundle; records them, changes nothing."""

    name: ClassVar[str] = "collect-cluster"
    title: ClassVar[str] = "collect nodes, events and kube-system pods"
    timeout: ClassVar[float] = 120.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Query and record; never a change."""
        if not kube.initialised(host):
            record(ctx, CLUSTER, {"README.txt": f"no cluster: {kube.ADMIN_CONF} is missing on {host.name}\n"})
            return []
        record(ctx, CLUSTER, {name: _query(host, args) for name, args in QUERIES.items()})
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing to apply."""


def _query(host: HostView, args: tuple[str, ...]) -> str:
    result = kube.kubectl(host, *args, "-o", "json", check=False, sensitive=True)
    if result.ok:
        return result.stdout
    return f"# kubectl {' '.join(args)} failed (exit {result.exit_code})\n{result.stderr}"
