"""``admin-kubeconfig``: copy the cluster's admin kubeconfig into the state directory (mode 0600)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from hybridctl.state import StateDir, atomic_write
from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.cluster.common import ClusterStep
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView


class AdminKubeconfig(ClusterStep):
    """Fetch /etc/kubernetes/admin.conf when the local copy differs; never shows its content."""

    name: ClassVar[str] = "admin-kubeconfig"
    title: ClassVar[str] = "fetch the admin kubeconfig"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The local copy is missing, differs, or is readable by others."""
        local = local_path(ctx)
        remote = host.get(kube.ADMIN_CONF)
        if remote is None:
            return [Change(f"write {local} once kubeadm init has run")]
        if not local.exists():
            return [Change(f"write {local} (holds cluster-admin credentials; not shown)")]
        if local.read_bytes() != remote:
            return [Change(f"update {local} (holds cluster-admin credentials; not shown)")]
        if local.stat().st_mode & 0o077:
            return [Change(f"make {local} readable by its owner only")]
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the fetched file atomically, mode 0600."""
        remote = host.get(kube.ADMIN_CONF)
        if remote is None:
            raise StepError(f"{host.name}: {kube.ADMIN_CONF} is missing although the cluster should exist")
        atomic_write(local_path(ctx), remote, 0o600)


def local_path(ctx: StepContext) -> Path:
    """Where the admin kubeconfig goes: ``<state dir>/admin.conf``."""
    state_dir = ctx.options.get("state_dir")
    if not state_dir:
        raise StepError("no state directory was given to the run (ctx.options['state_dir'])")
    return StateDir(Path(state_dir)).kubeconfig
