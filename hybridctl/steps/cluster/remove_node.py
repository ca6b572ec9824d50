"""``remove-node``: drain a node and delete its Node object, through kubectl on the first control plane."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.inventory.models import Cluster, Host
from hybridctl.steps import kube
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView

DRAIN_TIMEOUT = "300s"


class RemoveNode(Step):
    """Runs for each node being removed (the verb picks them); a node that is already gone is skipped."""

    name: ClassVar[str] = "remove-node"
    title: ClassVar[str] = "drain and delete the node"
    timeout: ClassVar[float] = 420.0
    windows_timeout: ClassVar[float] = 420.0
    connects: ClassVar[bool] = False  # everything goes through the first control plane

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Any node but the first control plane, which holds the cluster and cannot drain itself away."""
        return host != cluster.first_control_plane

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The Node still exists."""
        view = kube.control_plane_view(ctx)
        if not kube.initialised(view) or host.name not in kube.nodes(ctx):
            return []
        return [Change(f"drain and delete node {host.name}", impact="delete")]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """``kubectl drain`` then ``kubectl delete node`` on the first control plane."""
        control_plane = kube.control_plane_handle(ctx)
        drain = ("--ignore-daemonsets", "--delete-emptydir-data", "--force", f"--timeout={DRAIN_TIMEOUT}")
        kube.kubectl(control_plane, "drain", host.name, *drain)
        kube.kubectl(control_plane, "delete", "node", host.name, "--ignore-not-found")
