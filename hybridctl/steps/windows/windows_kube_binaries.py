"""windows-kube-binaries: kubelet.exe, kube-proxy.exe (vxlan: flanneld.exe) into C:\\k, nssm.exe into
%ProgramFiles%\\nssm."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.inventory.models import Cluster
from hybridctl.steps.windows.artifacts import ArtifactInstall, ArtifactStep, catalog
from hybridctl.steps.windows.common import K_DIR, NSSM_DIR


class WindowsKubeBinaries(ArtifactStep):
    """The node agents (matching the cluster's Kubernetes version) and the service wrapper."""

    name: ClassVar[str] = "windows-kube-binaries"
    title: ClassVar[str] = "install kubelet, kube-proxy and nssm (Windows)"

    def installs(self, cluster: Cluster) -> list[ArtifactInstall]:
        """kubelet.exe, kube-proxy.exe (sha256 from dl.k8s.io), nssm.exe and flanneld.exe (pinned)."""
        source = catalog(cluster)
        found = [
            ArtifactInstall(source.kubernetes_windows("kubelet.exe"), K_DIR, ("kubelet.exe",)),
            ArtifactInstall(source.kubernetes_windows("kube-proxy.exe"), K_DIR, ("kube-proxy.exe",)),
            ArtifactInstall(source.nssm(), NSSM_DIR, ("win64/nssm.exe",)),
        ]
        if cluster.spec.network.mode == "vxlan":
            found.append(ArtifactInstall(source.flanneld_windows(), K_DIR, ("flanneld.exe",)))
        return found
