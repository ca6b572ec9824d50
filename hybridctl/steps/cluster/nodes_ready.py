"""``nodes-ready``: wait until every node of the cluster is Ready (Linux and Windows have own limits)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.cluster.common import ClusterStep
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView

POLL = 2.0


class NodesReady(ClusterStep):
    """Report the nodes that are not Ready; applying waits for them (Windows nodes get longer)."""

    name: ClassVar[str] = "nodes-ready"
    title: ClassVar[str] = "wait for every node to be Ready"
    barrier: ClassVar[bool] = True
    timeout: ClassVar[float] = 1500.0

    def __init__(self, *, linux_timeout: float = 300.0, windows_timeout: float = 900.0) -> None:
        self.linux_limit = linux_timeout
        self.windows_limit = windows_timeout

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """One change per node that is not Ready (or not registered)."""
        return [Change(f"wait for node {name} to be Ready ({why})") for name, why in not_ready(ctx).items()]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Poll until every node is Ready; StepError naming the late ones when an OS's limit passes."""
        started = time.monotonic()
        while True:
            late = not_ready(ctx)
            elapsed = time.monotonic() - started
            overdue = {n: why for n, why in late.items() if elapsed >= self._limit(ctx, n)}
            if not late:
                return
            if overdue:
                details = "; ".join(f"{n}: {why}" for n, why in sorted(overdue.items()))
                raise StepError(
                    f"nodes not Ready in time: {details}",
                    hint="look at the kubelet on those nodes (journalctl -u kubelet; C:\\var\\log\\kubelet)",
                )
            time.sleep(POLL)

    def _limit(self, ctx: StepContext, name: str) -> float:
        return self.windows_limit if ctx.cluster.host(name).is_windows else self.linux_limit


def not_ready(ctx: StepContext) -> dict[str, str]:
    """Nodes of the cluster (``ctx.members``: not those leaving, nor absent hosts this run does not join)
    that are not Ready, with why."""
    nodes = kube.nodes(ctx)
    late = {}
    for host in ctx.members.hosts:
        node = nodes.get(host.name)
        if node is None:
            late[host.name] = "not registered"
        elif not kube.is_ready(node):
            late[host.name] = _reason(node)
    return late


def _reason(node: dict[str, Any]) -> str:
    for condition in node.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            return condition.get("message") or condition.get("reason") or f"Ready={condition.get('status')}"
    return "no Ready condition yet"
