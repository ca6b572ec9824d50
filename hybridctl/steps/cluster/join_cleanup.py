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
        """One change per hybridctl token still on the cluster."""
        if not kube.initialised(host):
            return []
        return [Change(f"delete bootstrap token {token_id}") for token_id in kube.hybridctl_tokens(host)]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Delete them in one command."""
        ids = kube.hybridctl_tokens(host)
        if ids:
            host.run(posix("kubeadm", "token", "delete", *ids))
