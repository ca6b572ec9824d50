"""The Windows artifacts the lab's mirror (tests/lab/artifacts.py ``ArtifactServer``) serves, built here.

Real: HTTP, tar.gz/zip archives, sha256 checksum files in upstream's formats. Simulated: the binaries'
contents (marker bytes). Paths follow the mirror layout (``<mirror>/<upstream host><upstream path>``).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile

from hybridctl.artifacts import Catalog
from hybridctl.inventory.models import Cluster
from tests.lab.artifacts import ArtifactServer, ChecksumStyle

UNPINNED = (
    "windows-cni",
    "nssm",
    "flanneld",
)  # upstream publishes no checksum for these: the inventory pins them


def _tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _exe(label: str) -> bytes:
    return b"MZ" + f" simulated {label}\n".encode()


def artifact_bytes(name: str, version: str) -> bytes:
    """The content of artifact ``name`` (an upstream artifact name) at ``version``."""
    builders = {
        "containerd-windows": lambda: _tgz(
            {
                f"bin/{n}": _exe(f"{n} {version}")
                for n in (
                    "containerd.exe",
                    "containerd-shim-runhcs-v1.exe",
                    "ctr.exe",
                    "containerd-stress.exe",
                )
            }
        ),
        "crictl-windows": lambda: _tgz({"crictl.exe": _exe(f"crictl.exe {version}")}),
        "cni-plugins-windows": lambda: _tgz(
            {
                f"./{n}": _exe(f"{n} {version}")
                for n in ("host-local.exe", "win-bridge.exe", "win-overlay.exe")
            }
        ),
        "windows-cni": lambda: _zip({n: _exe(f"{n} {version}") for n in ("sdnbridge.exe", "sdnoverlay.exe")}),
        "nssm": lambda: _zip(
            {f"nssm-{version}/win64/nssm.exe": _exe("nssm"), f"nssm-{version}/win32/nssm.exe": _exe("nssm32")}
        ),
        "flanneld": lambda: _exe(f"flanneld.exe {version}"),
        "flannel-cni-windows": lambda: _tgz({"flannel-amd64.exe": _exe(f"flannel-amd64.exe {version}")}),
        "kubelet": lambda: _exe(f"kubelet.exe {version}"),
        "kube-proxy": lambda: _exe(f"kube-proxy.exe {version}"),
    }
    return builders[name]()


def _upstream(cluster: Cluster) -> Catalog:
    artifacts = cluster.spec.artifacts.model_copy(update={"source": "upstream", "checksums": {}})
    return Catalog(
        cluster.model_copy(update={"spec": cluster.spec.model_copy(update={"artifacts": artifacts})})
    )


def _version(url: str) -> str:
    return url.split("/v", 1)[-1].split("/", 1)[0] if "/v" in url else "2.24"


def build_windows_artifacts(server: ArtifactServer, cluster: Cluster) -> None:
    """Add every Windows artifact (and the checksum file upstream publishes beside it) to ``server``."""
    for artifact in _upstream(cluster).windows_artifacts():
        data = artifact_bytes(artifact.name, _version(artifact.url))
        # dl.k8s.io publishes a bare hash; GitHub releases publish "<hash>  <file name>".
        style: ChecksumStyle = "bare" if artifact.name in ("kubelet", "kube-proxy") else "sha256sum"
        server.add(artifact.url, data, checksum_url=artifact.checksum_url, style=style)


def pinned_checksums(cluster: Cluster) -> dict[str, str]:
    """sha256 pins the inventory needs for the artifacts without a published checksum."""
    found = {}
    for artifact in _upstream(cluster).windows_artifacts():
        if artifact.name in UNPINNED:
            found[artifact.name] = hashlib.sha256(
                artifact_bytes(artifact.name, _version(artifact.url))
            ).hexdigest()
    return found
