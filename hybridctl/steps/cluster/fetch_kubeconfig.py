"""``fetch-kubeconfig``: the admin kubeconfig of an existing cluster, for ``hybridctl kubeconfig``."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.cluster.admin_kubeconfig import AdminKubeconfig
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostView


class FetchKubeconfig(AdminKubeconfig):
    """Like ``admin-kubeconfig``, but a cluster that does not exist yet is an error, not a pending change."""

    name: ClassVar[str] = "fetch-kubeconfig"
    title: ClassVar[str] = "fetch the admin kubeconfig of the running cluster"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """What ``admin-kubeconfig`` would change; StepError when kubeadm init never ran there."""
        if not kube.initialised(host):
            message = f"{host.name}: {kube.ADMIN_CONF} does not exist: no cluster runs on this control plane"
            raise StepError(message, hint="create the cluster with: hybridctl up")
        return super().check(host, ctx)
