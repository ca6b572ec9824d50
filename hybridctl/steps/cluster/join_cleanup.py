"""``join-cleanup``: delete hybridctl's bootstrap tokens once every node has joined, stale ones included."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.commands import posix
from hybridctl.steps import kube
from hybridctl.steps.base import Change
from hybridctl.steps.cluster.common import ClusterStep
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView


class JoinCleanup(ClusterStep):
    """``kubeadm token delete`` every token carrying hybridctl's description (a token id is not a secret)."""

    name: ClassVar[str] = "join-cleanup"
    title: ClassVar[str] = "delete join tokens"
    barrier: ClassVar[bool] = True

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """One change per hybridctl token still on the cluster (planning: also the token joins will make)."""
        initialised = kube.initialised(host)
        changes = (
            [Change(f"delete bootstrap token {t}") for t in kube.hybridctl_tokens(host)]
            if initialised
            else []
        )
        if ctx.read_only and not changes and _joins_pending(ctx, initialised):
            changes.append(Change("delete the bootstrap token this run creates for the joins"))
        return changes

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Delete them in one command."""
        ids = kube.hybridctl_tokens(host)
        if ids:
            host.run(posix("kubeadm", "token", "delete", *ids))


def _joins_pending(ctx: StepContext, initialised: bool) -> bool:
    """Some host this run makes a node is not a Node yet, so a join token will be created."""
    others = [h.name for h in ctx.members.hosts if h != ctx.cluster.first_control_plane]
    if not initialised:
        return bool(others)
    registered = kube.nodes(ctx)
    return any(name not in registered for name in others)
