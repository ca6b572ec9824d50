"""windows-containerd: containerd's Windows binaries in %ProgramFiles%\\containerd, on the machine PATH."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.inventory.models import Cluster
from hybridctl.steps.windows.artifacts import ArtifactInstall, ArtifactStep, catalog
from hybridctl.steps.windows.common import CONTAINERD_DIR

MEMBERS = ("bin/containerd.exe", "bin/containerd-shim-runhcs-v1.exe", "bin/ctr.exe")


class WindowsContainerd(ArtifactStep):
    """Download the containerd Windows release on the node, verify it, extract it, add it to PATH."""

    name: ClassVar[str] = "windows-containerd"
    title: ClassVar[str] = "install containerd (Windows)"

    def installs(self, cluster: Cluster) -> list[ArtifactInstall]:
        """The containerd tarball's binaries."""
        artifact = catalog(cluster).containerd_archive("windows")
        return [ArtifactInstall(artifact, CONTAINERD_DIR, MEMBERS, path_entry=CONTAINERD_DIR)]
