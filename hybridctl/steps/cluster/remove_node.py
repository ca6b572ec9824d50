"""``remove-node``: drain a node and delete its Node object, through kubectl on the first control plane."""

from __future__ import annotations

import time
from typing import ClassVar

from hybridctl.commands import posix
from hybridctl.inventory.models import Cluster, Host
from hybridctl.steps import kube
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView

DRAIN_TIMEOUT = "300s"
DELETE_ATTEMPTS = 10
DELETE_PAUSE = 3.0


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
        """``kubectl drain``, a control plane's etcd member removed, then ``kubectl delete node``."""
        control_plane = kube.control_plane_handle(ctx)
        drain = ("--ignore-daemonsets", "--delete-emptydir-data", "--force", f"--timeout={DRAIN_TIMEOUT}")
        kube.kubectl(control_plane, "drain", host.name, *drain)
        if host.host.is_control_plane:
            _leave_etcd(ctx, host.name)
        _delete_node(control_plane, host.name)


def _leave_etcd(ctx: StepContext, name: str) -> None:
    """Remove the departing control plane's etcd member while its Node still exists.

    ``kubeadm reset`` removes the member only when it can read the node's registration from the API;
    run after the Node is deleted it warns "failed to get corresponding node" and leaves the member in
    etcd (seen in the real HA lab), which then counts against quorum forever. kubeadm's own order is
    drain, reset, delete the Node (kubeadm reset documentation); its ``remove-etcd-member`` phase does
    the part that needs the Node, and the host's full reset follows in the Linux teardown.
    """
    ctx.handle(name).run(posix("kubeadm", "reset", "phase", "remove-etcd-member"), timeout=300)


def _delete_node(control_plane: HostHandle, name: str) -> None:
    """``kubectl delete node``, retried while a load balancer still sends some requests to the API
    server of a control plane that just left etcd (its health check takes a few seconds to notice)."""
    for attempt in range(DELETE_ATTEMPTS):
        last = attempt == DELETE_ATTEMPTS - 1
        done = kube.kubectl(control_plane, "delete", "node", name, "--ignore-not-found", check=last)
        if done.ok:
            return
        time.sleep(DELETE_PAUSE)
