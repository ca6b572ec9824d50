"""Verbs as ordered step lists: ``up``, ``add-node`` and ``down`` pick the steps and the hosts they run on.

A verb is nothing but steps in order plus a selection of (step, host) pairs; the runner does the rest.
The step list ``plan`` shows (offline or online) is the very list ``up`` runs.

``up``        every step on every host it applies to: host preparation in parallel with ``kubeadm init``;
              joins wait for init; the pod network waits for every node's pod CIDR; cluster steps last.
``add-node``  the same path for the named hosts, plus what the cluster needs for them: a fresh join token
              (deleted afterwards), the new nodes' routes on every existing node and every node's routes on
              the new nodes. Existing nodes run nothing else; inventory hosts that are not nodes yet are
              left alone (a warning names them).
``down``      without names the whole cluster, workers first, control planes last; with names only those
              nodes, then every remaining node drops its routes to them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from hybridctl.errors import UsageError
from hybridctl.inventory.models import Cluster, Host
from hybridctl.steps.base import Change, Step

if TYPE_CHECKING:
    from hybridctl.steps.context import StepContext
    from hybridctl.steps.host import HostHandle, HostView

Selector = Callable[[Step, Host], bool]


@dataclass
class Action:
    """A verb: steps in order, the hosts it connects to, and which step runs on which host."""

    verb: str
    steps: list[Step]
    hosts: list[Host]
    selector: Selector = field(default=lambda step, host: True)
    departing: frozenset[str] = frozenset()
    """Hosts the verb removes: the rest of the cluster is computed without them."""
    joining: frozenset[str] | None = None
    """Hosts the verb joins; ``None``: every host of the inventory (``up``). Other hosts of the inventory
    that are not nodes are left alone (``StepContext.members``)."""

    def pairs(self, cluster: Cluster) -> list[tuple[Step, Host]]:
        """Every (step, host) the verb will run, in order (what ``plan --offline`` shows)."""
        return [
            (s, h) for s in self.steps for h in self.hosts if self.selector(s, h) and s.applies_to(h, cluster)
        ]


class Scoped(Step):
    """Another step restricted to some hosts, optionally behind a barrier (e.g. control planes last)."""

    title: ClassVar[str] = "scoped step"

    def __init__(
        self, inner: Step, where: Callable[[Host], bool], *, suffix: str, barrier: bool = False
    ) -> None:
        self.inner = inner
        self.where = where
        self.name = f"{inner.name}{suffix}"  # type: ignore[misc]
        self.title = inner.title  # type: ignore[misc]
        self.barrier = barrier  # type: ignore[misc]
        self.requires = inner.requires  # type: ignore[misc]
        self.retry_safe = inner.retry_safe  # type: ignore[misc]
        self.timeout = inner.timeout  # type: ignore[misc]
        self.windows_timeout = inner.windows_timeout  # type: ignore[misc]
        self.connects = inner.connects  # type: ignore[misc]

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """The inner step's hosts that are also in scope."""
        return self.where(host) and self.inner.applies_to(host, cluster)

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The inner step's check."""
        return self.inner.check(host, ctx)

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """The inner step's apply."""
        self.inner.apply(host, ctx, changes)


def _phases() -> tuple[list[Step], list[Step], list[Step], list[Step], list[Step]]:
    """prepare, join, network, finish (host steps) and cluster-finish, in up's order."""
    from hybridctl.steps import cluster as cluster_steps
    from hybridctl.steps import linux, windows

    prepare = [*linux.PREPARE, *windows.PREPARE]
    join = [*linux.BOOTSTRAP, *windows.JOIN]
    network = [cluster_steps.POD_CIDRS, cluster_steps.FLANNEL, *linux.NETWORK, *windows.NETWORK]
    return prepare, join, network, list(windows.FINISH), list(cluster_steps.FINISH)


def up(cluster: Cluster) -> Action:
    """Build or converge the whole cluster."""
    prepare, join, network, finish, cluster_finish = _phases()
    return Action("up", [*prepare, *join, *network, *finish, *cluster_finish], list(cluster.hosts))


def add_node(cluster: Cluster, names: Sequence[str]) -> Action:
    """Join the named hosts; existing nodes only gain routes to them."""
    new = set(names)
    first = cluster.first_control_plane.name
    if first in new:
        raise UsageError(f"{first} is the first control plane: it is created by 'up', not added")
    prepare, join, network, finish, cluster_finish = _phases()
    host_steps = {id(s) for s in [*prepare, *join, *finish]}
    network_steps = {id(s) for s in network}
    cluster_steps = {id(s) for s in cluster_finish} | {id(network[0])}

    def select(step: Step, host: Host) -> bool:
        if host.name in new:
            return id(step) in host_steps or id(step) in network_steps
        if id(step) in cluster_steps:
            return host.name == first
        return id(step) in network_steps

    steps = [*prepare, *join, *network, *finish, *cluster_finish]
    return Action("add-node", steps, list(cluster.hosts), select, joining=frozenset(new))


def down(cluster: Cluster, names: Sequence[str], *, purge: bool) -> Action:
    """Remove the named nodes (and their routes everywhere else), or the whole cluster."""
    if not names:
        return _down_all(cluster, purge)
    return _down_some(cluster, set(names), purge)


def _teardown(purge: bool) -> tuple[Step, list[Step], list[Step]]:
    from hybridctl.steps import cluster as cluster_steps
    from hybridctl.steps import linux, windows

    return cluster_steps.REMOVE_NODES, linux.teardown(purge), windows.teardown(purge)


def _down_all(cluster: Cluster, purge: bool) -> Action:
    remove, linux_reset, windows_reset = _teardown(purge)
    workers = [Scoped(s, lambda h: not h.is_control_plane, suffix="") for s in linux_reset]
    planes = [
        Scoped(s, lambda h: h.is_control_plane, suffix="-control-plane", barrier=True) for s in linux_reset
    ]
    remove_workers = Scoped(remove, lambda h: not h.is_control_plane, suffix="")
    steps: list[Step] = [remove_workers, *windows_reset, *workers, *planes]
    return Action("down", steps, list(cluster.hosts), departing=frozenset(h.name for h in cluster.hosts))


def _down_some(cluster: Cluster, names: set[str], purge: bool) -> Action:
    if cluster.first_control_plane.name in names and len(names) < len(cluster.hosts):
        raise UsageError(
            f"{cluster.first_control_plane.name} is the first control plane: it goes with the whole cluster",
            hint="run 'hybridctl down' without names to remove everything",
        )
    from hybridctl.steps import cluster as cluster_steps
    from hybridctl.steps import linux, windows

    remove, linux_reset, windows_reset = _teardown(purge)
    steps = [remove, *windows_reset, *linux_reset]
    removed = [Scoped(s, lambda h: h.name in names, suffix="") for s in steps]
    remaining = lambda h: h.name not in names  # noqa: E731 - a one-line predicate shared by three steps
    cidrs = Scoped(cluster_steps.POD_CIDRS, remaining, suffix="", barrier=True)
    network = [Scoped(s, remaining, suffix="") for s in [*linux.NETWORK, *windows.NETWORK]]
    steps = [*removed, cidrs, *network]
    return Action("down", steps, list(cluster.hosts), departing=frozenset(names), joining=frozenset())
