"""windows-cni-plugins: sdnbridge.exe (windows-container-networking), host-local.exe into C:\\opt\\cni."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.inventory.models import Cluster
from hybridctl.steps.windows.artifacts import ArtifactInstall, ArtifactStep, catalog
from hybridctl.steps.windows.common import CNI_BIN


class WindowsCniPlugins(ArtifactStep):
    """The CNI plugins the routes mode's CNI config names: the bridge plugin and its IPAM."""

    name: ClassVar[str] = "windows-cni-plugins"
    title: ClassVar[str] = "install CNI plugins (Windows)"

    def installs(self, cluster: Cluster) -> list[ArtifactInstall]:
        """sdnbridge.exe and host-local.exe."""
        source = catalog(cluster)
        return [
            ArtifactInstall(source.windows_cni(), CNI_BIN, ("sdnbridge.exe",)),
            ArtifactInstall(source.cni_plugins("windows"), CNI_BIN, ("host-local.exe",)),
        ]
