"""windows-containerd: containerd's Windows binaries and crictl in %ProgramFiles%\\containerd, on the PATH.

crictl is installed beside containerd as sig-windows-tools' Install-Containerd.ps1 does (it downloads
``crictl-v<ver>-windows-amd64.tar.gz`` into the containerd directory). hybridctl needs it at teardown:
``down`` removes every pod sandbox through the CRI before it deletes HNS endpoints, as ``kubeadm reset``
does on any node (cmd/kubeadm/app/util/runtime: StopPodSandbox, then RemovePodSandbox, for every
sandbox; before kubeadm talked CRI itself it ran ``crictl stopp`` / ``crictl rmp``). Stopping the
containerd service does not stop pods: their containers run under containerd-shim-runhcs-v1, not inside
the daemon (containerd "Runtime v2"), so only the CRI tears them and their network (CNI DEL) down.
"""

from __future__ import annotations

from typing import ClassVar

from hybridctl.inventory.models import Cluster
from hybridctl.steps.windows.artifacts import ArtifactInstall, ArtifactStep, catalog
from hybridctl.steps.windows.common import CONTAINERD_DIR, CRICTL_EXE

MEMBERS = ("bin/containerd.exe", "bin/containerd-shim-runhcs-v1.exe", "bin/ctr.exe")


class WindowsContainerd(ArtifactStep):
    """Download the containerd Windows release on the node, verify it, extract it, add it to PATH."""

    name: ClassVar[str] = "windows-containerd"
    title: ClassVar[str] = "install containerd (Windows)"

    def installs(self, cluster: Cluster) -> list[ArtifactInstall]:
        """The containerd tarball's binaries, and crictl.exe from cri-tools' Windows tarball."""
        source = catalog(cluster)
        crictl = CRICTL_EXE.rsplit("\\", 1)[-1]
        return [
            ArtifactInstall(
                source.containerd_archive("windows"), CONTAINERD_DIR, MEMBERS, path_entry=CONTAINERD_DIR
            ),
            ArtifactInstall(source.crictl("windows"), CONTAINERD_DIR, (crictl,)),
        ]
