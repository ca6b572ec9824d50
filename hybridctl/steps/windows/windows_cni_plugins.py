"""windows-cni-plugins: the CNI plugins the node's CNI config runs, into C:\\opt\\cni\\bin.

routes mode: sdnbridge.exe (microsoft/windows-container-networking) with host-local.exe for IPAM. vxlan
mode: flannel.exe (flannel-io/cni-plugin), which delegates to sdnoverlay.exe with host-local.exe; the
source VIP reservation runs host-local.exe too.
"""

from __future__ import annotations

from typing import ClassVar

from hybridctl.inventory.models import Cluster
from hybridctl.steps.windows.artifacts import ArtifactInstall, ArtifactStep, catalog
from hybridctl.steps.windows.common import CNI_BIN


class WindowsCniPlugins(ArtifactStep):
    """The CNI plugins of the cluster's network mode."""

    name: ClassVar[str] = "windows-cni-plugins"
    title: ClassVar[str] = "install CNI plugins (Windows)"

    def installs(self, cluster: Cluster) -> list[ArtifactInstall]:
        """The delegate plugin of the mode and host-local.exe (vxlan: also flannel.exe)."""
        source = catalog(cluster)
        host_local = ArtifactInstall(source.cni_plugins("windows"), CNI_BIN, ("host-local.exe",))
        if cluster.spec.network.mode != "vxlan":
            return [ArtifactInstall(source.windows_cni(), CNI_BIN, ("sdnbridge.exe",)), host_local]
        flannel = ArtifactInstall(
            source.flannel_cni_windows(), CNI_BIN, ("flannel-amd64.exe",), names=("flannel.exe",)
        )
        return [ArtifactInstall(source.windows_cni(), CNI_BIN, ("sdnoverlay.exe",)), host_local, flannel]
