"""``pod-cidrs``: learn every node's pod CIDR (``node.spec.podCIDR``) for the routes; changes nothing."""

from __future__ import annotations

import ipaddress
import time
from typing import Any, ClassVar

from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.cluster.common import ClusterStep
from hybridctl.steps.context import ABSENT, DEPARTING, JOINING, StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import POD_CIDRS

POLL = 2.0


class PodCidrs(ClusterStep):
    """Read the pod CIDRs kube-controller-manager allocated; wait briefly for nodes that just registered."""

    name: ClassVar[str] = "pod-cidrs"
    title: ClassVar[str] = "read the nodes' pod CIDRs"
    requires: ClassVar[tuple[str, ...]] = ("kubeadm-init", "kubeadm-join", "windows-kubelet")
    timeout: ClassVar[float] = 300.0

    def __init__(self, *, wait: float = 120.0) -> None:
        self.wait = wait

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Record ``pod-cidrs``; StepError for a node without one (applying: or one that never registered).

        A registered node without a CIDR is waited for while planning too (waiting only reads): the
        controller-manager allocates one within seconds of registration, and an ``up`` interrupted right
        after ``kubeadm init`` leaves exactly such a node for the next plan. Nodes that have not
        registered are waited for only when applying; while planning their join is still to come.
        """
        deadline = time.monotonic() + self.wait
        while True:
            found = _cidrs(ctx)
            _leave_absent_alone(ctx, host.name, found)
            missing = [h.name for h in ctx.members.hosts if not found.get(h.name)]
            waiting = [n for n in missing if n in found] if ctx.read_only else missing
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(POLL)
        members = {h.name for h in ctx.members.hosts}  # nodes leaving, or not hybridctl's, get no routes
        known = {name: cidr for name, cidr in found.items() if cidr and name in members}
        _check_subnet(ctx, known)
        ctx.state.set(POD_CIDRS, known)
        _refuse(ctx, found, missing)
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing to apply."""


def _leave_absent_alone(ctx: StepContext, where: str, found: dict[str, str | None]) -> None:
    """Record (and, while planning, warn about) inventory hosts this run neither finds nor joins."""
    joining: frozenset[str] | None = ctx.state.get(JOINING)
    if joining is None:  # up: every host of the inventory must become a node
        return
    departing: frozenset[str] = ctx.state.get(DEPARTING) or frozenset()
    absent = frozenset(
        h.name for h in ctx.cluster.hosts if h.name not in found and h.name not in joining | departing
    )
    if ctx.read_only and absent and absent != ctx.state.get(ABSENT):
        ctx.emit(
            "warning",
            host=where,
            step=PodCidrs.name,
            message=f"in the inventory but not nodes of the cluster: {', '.join(sorted(absent))}; this run "
            "leaves them alone ('hybridctl add-node NAME' or 'hybridctl up' joins them)",
        )
    ctx.state.set(ABSENT, absent)


def _cidrs(ctx: StepContext) -> dict[str, str | None]:
    nodes: dict[str, dict[str, Any]] = kube.nodes(ctx)
    return {name: node.get("spec", {}).get("podCIDR") for name, node in nodes.items()}


def _check_subnet(ctx: StepContext, known: dict[str, str]) -> None:
    subnet = ipaddress.IPv4Network(ctx.cluster.spec.kubernetes.pod_subnet)
    outside = [f"{n} has {c}" for n, c in sorted(known.items()) if not _inside(c, subnet)]
    if outside:
        raise StepError(
            f"pod CIDRs outside the inventory's podSubnet {subnet}: {'; '.join(outside)}",
            hint="the cluster was created with another pod subnet; make spec.kubernetes.podSubnet match it",
        )


def _inside(cidr: str, subnet: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.IPv4Network(cidr).subnet_of(subnet)
    except ValueError:
        return False


def _refuse(ctx: StepContext, found: dict[str, str | None], missing: list[str]) -> None:
    without = [n for n in missing if n in found]
    if without:
        raise StepError(
            f"nodes without a pod CIDR (node.spec.podCIDR): {', '.join(without)}",
            hint="kube-controller-manager must allocate node CIDRs (--allocate-node-cidrs, which kubeadm "
            "turns on when networking.podSubnet is set); hybridctl never changes the control plane to fix it",
        )
    absent = [n for n in missing if n not in found]
    if absent and not ctx.read_only:
        raise StepError(
            f"nodes not registered with the cluster: {', '.join(absent)}",
            hint="every host of the inventory must have joined before the pod network can be built",
        )
