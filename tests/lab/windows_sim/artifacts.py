"""The Windows artifacts a lab mirror serves, built here, and a small HTTP server for them.

Real: HTTP, tar.gz/zip archives, sha256 checksum files in upstream's formats. Simulated: the binaries'
contents (marker bytes). Paths follow the mirror layout (``<mirror>/<upstream host><upstream path>``).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from hybridctl.artifacts import Catalog
from hybridctl.inventory.models import Cluster

UNPINNED = ("windows-cni", "nssm")  # upstream publishes no checksum for these: the inventory pins them


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


def _checksum_line(digest: str, name: str, filename: str) -> str:
    # dl.k8s.io publishes a bare hash; GitHub releases publish "<hash>  <file name>".
    return digest if name in ("kubelet", "kube-proxy") else f"{digest}  {filename}"


def mirror_files(cluster: Cluster) -> dict[str, bytes]:
    """Every Windows artifact (and published checksum file) by its path below the mirror root."""
    files: dict[str, bytes] = {}
    for artifact in _upstream(cluster).windows_artifacts():
        data = artifact_bytes(artifact.name, _version(artifact.url))
        files[_relpath(artifact.url)] = data
        if artifact.checksum_url:
            line = _checksum_line(hashlib.sha256(data).hexdigest(), artifact.name, artifact.filename)
            files[_relpath(artifact.checksum_url)] = (line + "\n").encode()
    return files


def pinned_checksums(cluster: Cluster) -> dict[str, str]:
    """sha256 pins the inventory needs for the artifacts without a published checksum."""
    found = {}
    for artifact in _upstream(cluster).windows_artifacts():
        if artifact.name in UNPINNED:
            found[artifact.name] = hashlib.sha256(
                artifact_bytes(artifact.name, _version(artifact.url))
            ).hexdigest()
    return found


def _relpath(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path


class MirrorServer:
    """Serves a directory over HTTP on ``address`` (loopback or the lab bridge); stop() ends its thread."""

    def __init__(self, root: Path, address: str = "127.0.0.1") -> None:
        self.root = root
        handler = partial(_QuietHandler, directory=str(root))
        self._server = http.server.ThreadingHTTPServer((address, 0), handler)
        self.address = address
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="windows-mirror", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the mirror."""
        return f"http://{self.address}:{self.port}"

    def publish(self, files: dict[str, bytes]) -> None:
        """Write files below the root."""
        for relpath, data in files.items():
            path = self.root / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def start(self) -> MirrorServer:
        """Start serving."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return
