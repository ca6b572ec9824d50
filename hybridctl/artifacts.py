"""Every binary hybridctl installs: where it comes from, and how its sha256 is known.

Upstream URLs are the projects' release locations. A mirror holds the same paths below its base URL:
``https://dl.k8s.io/v1.37.2/bin/...`` becomes ``<mirrorUrl>/dl.k8s.io/v1.37.2/bin/...``. The sha256 comes
from the inventory's pinned ``checksums`` when given, else from the checksum file upstream publishes next
to the artifact (fetched from the same source). Artifacts without a published checksum must be pinned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from hybridctl.errors import HybridctlError
from hybridctl.inventory.models import Cluster
from hybridctl.versions import FLANNEL_CNI_PLUGIN_VERSION, FLANNEL_VERSION, KubeVersion

_HEX64 = re.compile(r"\b([0-9a-fA-F]{64})\b")


class ArtifactError(HybridctlError):
    """An artifact's location or checksum is not usable."""


@dataclass(frozen=True)
class Artifact:
    """A file to download: its URL, and either a pinned sha256 or the URL of its checksum file."""

    name: str
    url: str
    filename: str
    sha256: str | None = None
    checksum_url: str | None = None

    def require_checksum_source(self) -> None:
        """Refuse an artifact whose integrity cannot be verified."""
        if self.sha256 is None and self.checksum_url is None:
            raise ArtifactError(
                f"artifact {self.name} ({self.url}) has no published checksum",
                hint=f"pin it: spec.artifacts.checksums.{self.name}: <sha256 of a trusted copy>",
            )


def parse_checksum(text: str, filename: str) -> str:
    """The sha256 for ``filename`` from a checksum file (bare hash, or ``hash  name`` lines)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[-1].lstrip("*").rsplit("/", 1)[-1] == filename:
            return _hash_in(parts[0], filename)
    if len(lines) == 1:
        return _hash_in(lines[0].split()[0], filename)
    raise ArtifactError(f"the checksum file lists no entry for {filename}")


def _hash_in(token: str, filename: str) -> str:
    match = _HEX64.fullmatch(token)
    if not match:
        raise ArtifactError(f"the checksum for {filename} is not a sha256: {token[:80]!r}")
    return match.group(1).lower()


class Catalog:
    """Resolves artifact names to URLs for one cluster (upstream or mirror)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.spec = cluster.spec.artifacts
        self.k8s = KubeVersion.parse(cluster.spec.kubernetes.version)
        self.containerd = cluster.containerd_version

    def url(self, upstream: str) -> str:
        """``upstream`` rewritten for the configured source."""
        if self.spec.source != "mirror" or not self.spec.mirror_url:
            return upstream
        parts = urlsplit(upstream)
        return f"{self.spec.mirror_url.rstrip('/')}/{parts.netloc}{parts.path}"

    def _artifact(self, name: str, upstream: str, checksum: str | None) -> Artifact:
        pinned = self.spec.checksums.get(name)
        filename = upstream.rsplit("/", 1)[-1]
        checksum_url = self.url(checksum) if checksum and not pinned else None
        return Artifact(name, self.url(upstream), filename, pinned.lower() if pinned else None, checksum_url)

    def kubernetes_windows(self, binary: str) -> Artifact:
        """kubelet.exe / kube-proxy.exe / kubectl.exe from dl.k8s.io."""
        base = f"https://dl.k8s.io/{self.k8s.tag}/bin/windows/amd64/{binary}"
        return self._artifact(binary.removesuffix(".exe"), base, base + ".sha256")

    def containerd_archive(self, os_name: str) -> Artifact:
        """The containerd release tarball for ``linux`` or ``windows`` (amd64)."""
        v = self.containerd
        base = f"https://github.com/containerd/containerd/releases/download/v{v}/containerd-{v}-{os_name}-amd64.tar.gz"
        return self._artifact(f"containerd-{os_name}", base, base + ".sha256sum")

    def runc(self) -> Artifact:
        """The runc binary for Linux (amd64)."""
        v = self.spec.runc_version
        base = f"https://github.com/opencontainers/runc/releases/download/v{v}"
        return self._artifact("runc", f"{base}/runc.amd64", f"{base}/runc.sha256sum")

    def cni_plugins(self, os_name: str) -> Artifact:
        """containernetworking/plugins for ``linux`` (bridge, host-local, ...) or ``windows``."""
        v = self.spec.cni_plugins_version
        base = (
            f"https://github.com/containernetworking/plugins/releases/download/v{v}/"
            f"cni-plugins-{os_name}-amd64-v{v}.tgz"
        )
        return self._artifact(f"cni-plugins-{os_name}", base, base + ".sha256")

    def windows_cni(self) -> Artifact:
        """microsoft/windows-container-networking (sdnbridge.exe, sdnoverlay.exe); no published checksum."""
        v = self.spec.windows_cni_version
        url = (
            f"https://github.com/microsoft/windows-container-networking/releases/download/v{v}/"
            f"windows-container-networking-cni-amd64-v{v}.zip"
        )
        return self._artifact("windows-cni", url, None)

    def flanneld_windows(self) -> Artifact:
        """flanneld.exe (vxlan mode), uploaded as a bare release asset by flannel's release workflow
        (flannel-io/flannel .github/workflows/release.yml ``gh release upload ... dist/flannel*``); flannel
        publishes no checksum for it, so it must be pinned."""
        url = f"https://github.com/flannel-io/flannel/releases/download/{FLANNEL_VERSION}/flanneld.exe"
        return self._artifact("flanneld", url, None)

    def flannel_cni_windows(self) -> Artifact:
        """The flannel CNI plugin for Windows (vxlan mode): flannel-io/cni-plugin's
        ``cni-plugin-flannel-windows-amd64-<v>.tgz`` holding ``flannel-amd64.exe``, with a ``.sha256`` next
        to it (scripts/package.sh). Since v1.9.0-flannel1 the file name carries only the first six
        characters of the tag (scripts/version.sh: ``v1.9.1`` for ``v1.9.1-flannel3``)."""
        tag = FLANNEL_CNI_PLUGIN_VERSION
        base = (
            f"https://github.com/flannel-io/cni-plugin/releases/download/{tag}/"
            f"cni-plugin-flannel-windows-amd64-{tag[:6]}.tgz"
        )
        return self._artifact("flannel-cni-windows", base, base + ".sha256")

    def nssm(self) -> Artifact:
        """nssm, the service wrapper, from the mirror Kubernetes' Windows tooling uses; no checksum file."""
        v = self.spec.nssm_version
        url = f"https://k8stestinfrabinaries.blob.core.windows.net/nssm-mirror/nssm-{v}.zip"
        return self._artifact("nssm", url, None)

    def crictl(self, os_name: str) -> Artifact:
        """cri-tools' crictl for ``linux`` or ``windows``."""
        v = self.cluster.crictl_version
        base = f"https://github.com/kubernetes-sigs/cri-tools/releases/download/v{v}/crictl-v{v}-{os_name}-amd64.tar.gz"
        return self._artifact(f"crictl-{os_name}", base, base + ".sha256")

    def package_repository(self, kind: str) -> str:
        """Base URL of the Kubernetes package repository (``deb`` or ``rpm``) for the cluster's minor."""
        return self.url(f"https://pkgs.k8s.io/core:/stable:/{self.k8s.minor_series}/{kind}/")

    def windows_artifacts(self) -> list[Artifact]:
        """Everything a Windows worker downloads (vxlan mode adds flanneld and flannel's CNI plugin)."""
        found = [
            self.containerd_archive("windows"),
            self.crictl("windows"),
            self.cni_plugins("windows"),
            self.windows_cni(),
            self.nssm(),
            self.kubernetes_windows("kubelet.exe"),
            self.kubernetes_windows("kube-proxy.exe"),
        ]
        if self.cluster.spec.network.mode == "vxlan":
            found += [self.flanneld_windows(), self.flannel_cni_windows()]
        return found

    def linux_artifacts(self) -> list[Artifact]:
        """Everything a Linux node downloads besides the kubeadm/kubelet/kubectl packages."""
        return [self.containerd_archive("linux"), self.runc(), self.cni_plugins("linux")]

    def unverifiable(self) -> list[Artifact]:
        """Artifacts this cluster needs that have neither a pinned nor a published checksum."""
        needed = self.linux_artifacts() + (self.windows_artifacts() if self.cluster.windows_hosts else [])
        return [a for a in needed if a.sha256 is None and a.checksum_url is None]
