"""The lab's artifact mirror: files built here (no downloads) under their mirror paths, served over HTTP.

``ArtifactServer(root, address)`` serves ``root`` on ``address`` (the lab bridge, so every test host
reaches it) with the layout ``hybridctl.artifacts.Catalog.url`` expects of a mirror: the upstream URL
``https://dl.k8s.io/v1.37.2/bin/...`` lives at ``<server.url>/dl.k8s.io/v1.37.2/bin/...``::

    with ArtifactServer(root, "10.231.17.1") as server:
        server.add(upstream_url, data, checksum_url=upstream_url + ".sha256")  # "<sha256>  <file>" line
        server.add(other_url, data, checksum_url=..., style="bare")             # just the hash
        inventory mirrorUrl: server.url

``build_linux_artifacts`` adds what a Linux node downloads: a containerd tarball and runc (small scripts
standing in for the binaries), a CNI plugins tarball with the REAL plugins from /usr/lib/cni (Debian's
containernetworking-plugins), and the pkgs.k8s.io apt repository of the cluster's minor (a synthetic
signing key, a Packages index and tiny stand-in .deb files the simulated apt-get verifies).
The Windows side adds its artifacts through the same ``add``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from hybridctl.inventory.models import Cluster
from hybridctl.steps.linux.repository import crc24
from hybridctl.versions import KubeVersion

if TYPE_CHECKING:
    from hybridctl.artifacts import Catalog

CNI_SOURCE = Path("/usr/lib/cni")
CNI_PLUGINS_NEEDED = ("bridge", "host-local", "loopback", "portmap")
DEB_REVISION = "1.1"
SLOW_PARTS = 16
"""A throttled artifact goes out in this many parts (see ArtifactServer.throttle)."""
ChecksumStyle = Literal["sha256sum", "bare"]


def mirror_path(upstream_url: str) -> str:
    """``https://host/a/b`` -> ``host/a/b`` (the path below a mirror's base URL)."""
    parts = urlsplit(upstream_url)
    return f"{parts.netloc}{parts.path}"


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def translate_path(self, path: str) -> str:
        # keep ':' and friends as they are: pkgs.k8s.io paths contain "core:/stable:/"
        relative = unquote(urlsplit(path).path).lstrip("/")
        target = (self.server.root / relative).resolve()
        return str(target) if target.is_relative_to(self.server.root) else str(self.server.root / "-missing-")

    def do_GET(self) -> None:
        self.server.record(self.path, self.client_address[0])
        hook = self.server.hooks.get(unquote(urlsplit(self.path).path).lstrip("/"))
        if hook is not None:
            hook()
        super().do_GET()

    def copyfile(self, source: Any, outputfile: Any) -> None:
        """Send the body; a throttled path goes out in SLOW_PARTS parts spread over its seconds."""
        seconds = self.server.slow.get(unquote(urlsplit(self.path).path).lstrip("/"))
        if seconds is None:
            super().copyfile(source, outputfile)
            return
        data = source.read()
        part = max(1, -(-len(data) // SLOW_PARTS))
        for start in range(0, len(data), part):
            outputfile.write(data[start : start + part])
            outputfile.flush()
            time.sleep(seconds / SLOW_PARTS)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests are recorded in ``ArtifactServer.requests`` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], root: Path) -> None:
        super().__init__(address, _Handler)
        self.root = root.resolve()
        self.requests: list[str] = []
        self.sources: list[tuple[str, str]] = []
        self.hooks: dict[str, Any] = {}
        self.slow: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, path: str, client: str) -> None:
        with self._lock:
            self.requests.append(path)
            self.sources.append((client, path))


class ArtifactServer:
    """A threaded HTTP server for a mirror directory; ``add`` writes files (and checksum files) into it."""

    def __init__(self, root: Path, address: str, port: int = 0) -> None:
        self.root = root
        self.address = address
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the mirror (``http://ADDRESS:PORT``)."""
        if self._server is None:
            raise RuntimeError("the artifact server is not started")
        return f"http://{self.address}:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[str]:
        """Paths requested so far."""
        return list(self._server.requests) if self._server else []

    @property
    def sources(self) -> list[tuple[str, str]]:
        """(client address, path) of every GET served so far."""
        return list(self._server.sources) if self._server else []

    def start(self) -> ArtifactServer:
        """Bind and serve in a daemon thread."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._server = _Server((self.address, self.port), self.root)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="artifact-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ArtifactServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def path_of(self, upstream_url: str) -> Path:
        """Where ``upstream_url`` lives in the mirror directory."""
        return self.root / mirror_path(upstream_url)

    def add(
        self,
        upstream_url: str,
        data: bytes,
        *,
        checksum_url: str | None = None,
        style: ChecksumStyle = "sha256sum",
    ) -> str:
        """Write ``data`` at the mirror path of ``upstream_url``; add its sha256 to ``checksum_url``'s file.

        ``style`` "sha256sum" appends ``<sha256>  <filename>`` (files listing several artifacts, like
        runc's, keep their other lines); "bare" writes the hash alone. Returns the sha256.
        """
        target = self.path_of(upstream_url)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        if checksum_url is not None:
            self._add_checksum(checksum_url, digest, upstream_url.rsplit("/", 1)[-1], style)
        return digest

    def _add_checksum(self, checksum_url: str, digest: str, filename: str, style: ChecksumStyle) -> None:
        path = self.path_of(checksum_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        if style == "bare":
            path.write_text(digest + "\n")
            return
        lines = path.read_text().splitlines() if path.exists() else []
        lines = [line for line in lines if not line.endswith(f"  {filename}")] + [f"{digest}  {filename}"]
        path.write_text("\n".join(lines) + "\n")

    def throttle(self, upstream_url: str, seconds: float | None) -> None:
        """Serve ``upstream_url`` slowly, spread over ``seconds`` (None: at full speed again)."""
        if self._server is None:
            raise RuntimeError("the artifact server is not started")
        if seconds is None:
            self._server.slow.pop(mirror_path(upstream_url), None)
        else:
            self._server.slow[mirror_path(upstream_url)] = seconds

    def on_request(self, upstream_url: str, hook: Any) -> None:
        """Call ``hook()`` (in the server thread) before answering a request for ``upstream_url``."""
        if self._server is None:
            raise RuntimeError("the artifact server is not started")
        self._server.hooks[mirror_path(upstream_url)] = hook


# --- what a Linux node downloads --------------------------------------------------------------------


def upstream_catalog(cluster: Cluster) -> Catalog:
    """A Catalog with upstream URLs for ``cluster`` (whatever its artifact source)."""
    # imported here: importing hybridctl.artifacts before hybridctl.inventory is circular today
    from hybridctl.artifacts import Catalog

    data = cluster.model_dump(by_alias=True)
    data["spec"]["artifacts"]["source"] = "upstream"
    data["spec"]["artifacts"]["checksums"] = {}
    return Catalog(Cluster.model_validate(data))


def build_linux_artifacts(server: ArtifactServer, cluster: Cluster) -> None:
    """containerd, runc, CNI plugins and the apt repository of ``cluster``'s versions, with checksums."""
    catalog = upstream_catalog(cluster)
    containerd = catalog.containerd_archive("linux")
    if not server.path_of(containerd.url).exists():  # each archive is built once per lab and version
        server.add(containerd.url, containerd_tarball(cluster), checksum_url=containerd.checksum_url)
    runc = catalog.runc()
    if not server.path_of(runc.url).exists():
        assert runc.checksum_url is not None
        server.add(runc.url.replace(".amd64", ".arm64"), b"not for amd64\n", checksum_url=runc.checksum_url)
        runc_line = f"runc version {cluster.spec.artifacts.runc_version}"
        server.add(runc.url, sim_binary("runc", runc_line), checksum_url=runc.checksum_url)
    cni = catalog.cni_plugins("linux")
    if not server.path_of(cni.url).exists():
        server.add(cni.url, cni_tarball(), checksum_url=cni.checksum_url)
    build_apt_repository(server, catalog, KubeVersion.parse(cluster.spec.kubernetes.version))


def sim_binary(name: str, version_line: str) -> bytes:
    """A stand-in executable: answers ``--version`` (and ``version``) and refuses everything else."""
    return (
        "#!/bin/sh\n"
        f"# hybridctl lab: simulated {name} (the real one cannot run in the lab's test hosts)\n"
        'case "${1:-}" in\n'
        f'    --version|-v|version) echo "{version_line}"; exit 0 ;;\n'
        "esac\n"
        f'echo "{name}: lab simulation; only --version works" >&2\n'
        "exit 1\n"
    ).encode()


def _tar(members: dict[str, bytes], *, mode: int = 0o755) -> bytes:
    buffer = io.BytesIO()
    # compresslevel 1: the real plugins are ~90 MB and the lab builds this archive in every session
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT, compresslevel=1) as archive:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def containerd_tarball(cluster: Cluster) -> bytes:
    """``bin/containerd`` & co. as stand-ins answering ``--version`` like the real release."""
    version = cluster.containerd
    module = (
        "github.com/containerd/containerd/v2" if version.major >= 2 else "github.com/containerd/containerd"
    )
    line = f"containerd {module} v{version} lab-simulation"
    names = ("containerd", "containerd-shim-runc-v2", "ctr", "containerd-stress")
    return _tar({f"bin/{name}": sim_binary(name, line) for name in names})


def cni_tarball() -> bytes:
    """The real plugins of /usr/lib/cni, flat, as the upstream release tarball holds them."""
    plugins = {f"./{p.name}": p.read_bytes() for p in sorted(CNI_SOURCE.iterdir()) if p.is_file()}
    missing = [name for name in CNI_PLUGINS_NEEDED if f"./{name}" not in plugins]
    if missing:
        raise RuntimeError(f"{CNI_SOURCE} lacks {missing}: apt-get install containernetworking-plugins")
    return _tar(plugins)


# --- the pkgs.k8s.io apt repository ------------------------------------------------------------------


def armored_key(material: bytes) -> str:
    """An ASCII-armored "public key block" around ``material`` with a correct CRC-24 (not a real key)."""
    body = base64.b64encode(material).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    crc = base64.b64encode(crc24(material).to_bytes(3, "big")).decode()
    return (
        "\n".join(
            [
                "-----BEGIN PGP PUBLIC KEY BLOCK-----",
                "",
                *lines,
                f"={crc}",
                "-----END PGP PUBLIC KEY BLOCK-----",
            ]
        )
        + "\n"
    )


def build_apt_repository(server: ArtifactServer, catalog: Catalog, version: KubeVersion) -> None:
    """Release.key, Packages(.gz), Release and stand-in .debs for ``version`` and the patch before it."""
    base = catalog.package_repository("deb")
    # deterministic per minor, so building the repository again does not change its key under the hosts
    material = b"".join(hashlib.sha256(f"{version.minor_series}/{i}".encode()).digest() for i in range(9))
    server.add(base + "Release.key", armored_key(b"\x99\x01\x0d" + material).encode())
    patches = sorted({max(version.patch - 1, 0), version.patch})
    stanzas = [
        _deb(server, base, name, f"{version.major}.{version.minor}.{p}")
        for p in patches
        for name in ("kubeadm", "kubelet", "kubectl", "cri-tools", "kubernetes-cni")
    ]
    packages = "\n".join(stanzas).encode()
    server.add(base + "Packages", packages)
    server.add(base + "Packages.gz", gzip.compress(packages, mtime=0))
    digest = hashlib.sha256(packages).hexdigest()
    release = (
        f"Origin: hybridctl-lab\nLabel: {version.minor_series}\nSHA256:\n {digest} {len(packages)} Packages\n"
    )
    server.add(base + "Release", release.encode())


def _deb(server: ArtifactServer, base: str, name: str, release: str) -> str:
    upstream = f"{release}-{DEB_REVISION}"
    filename = f"amd64/{name}_{upstream}_amd64.deb"
    data = f"hybridctl lab stand-in package {name} {upstream}\n".encode()
    digest = server.add(base + filename, data)
    fields = {"Package": name, "Version": upstream, "Architecture": "amd64", "Filename": filename}
    fields.update({"Size": str(len(data)), "SHA256": digest})
    return "".join(f"{key}: {value}\n" for key, value in fields.items())


def iter_files(root: Path) -> Iterator[Path]:
    """Every file below ``root`` (for tests that look at the mirror)."""
    yield from (p for p in sorted(root.rglob("*")) if p.is_file())
