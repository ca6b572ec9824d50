"""The lab's container registry (``crane registry serve``) and the images kubeadm and the tests pull from it.

Images are assembled without a Docker daemon: one layer (a tar written here) appended by ``crane append``
onto the empty base, then ``crane mutate`` sets the platform (linux/amd64), ``PATH`` and the entrypoint.
Names and tags are the ones kubeadm 1.37 asks for below its image repository (``kube-apiserver:v1.37.2``,
``etcd:3.7.0-0``, ``coredns:v1.14.6`` and ``coredns/coredns:v1.14.6``, ``pause:3.10.2``), plus the lab's
``echo`` test image. Binaries sit where upstream's images put them (``/usr/local/bin/<name>``; ``/coredns``;
``/pause``). kube-proxy's image also carries this machine's Debian iptables (``xtables-nft-multi`` and
``xtables-legacy-multi``, their extensions and the shared libraries they load), as upstream's
distroless-iptables base carries Debian's.
"""

from __future__ import annotations

import contextlib
import glob
import io
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.smoke.workloads import AGNHOST_TAG
from hybridctl.versions import FLANNEL_CNI_PLUGIN_VERSION, FLANNEL_VERSION
from tests.lab.real.artifacts import LabBinaries

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ETCD_TAG = "3.7.0-0"
COREDNS_TAG = "v1.14.6"
PAUSE_TAG = "3.10.2"
ECHO_TAG = "1.0"
# registry.k8s.io/e2e-test-images/agnhost: the tag of hybridctl smoke's default image, built from the release
# whose test/images/agnhost/VERSION it is (tests.upstream.build.AGNHOST_KUBERNETES); upstream's Dockerfile
# puts the binary at /agnhost with ENTRYPOINT ["/agnhost"] and CMD ["pause"]. Its digest is the lab's own,
# not upstream's, so lab inventories name it in spec.smoke.image by that digest (RealCluster).
AGNHOST = ("e2e-test-images/agnhost", AGNHOST_TAG)
IPTABLES_TOOLS = ("/usr/sbin/xtables-nft-multi", "/usr/sbin/xtables-legacy-multi", "/usr/sbin/conntrack")
IPTABLES_NAMES = (
    "iptables",
    "iptables-save",
    "iptables-restore",
    "ip6tables",
    "ip6tables-save",
    "ip6tables-restore",
)
READY_TIMEOUT = 30.0
FLANNEL_REPOSITORY = "flannel-io"  # ghcr.io/flannel-io/... (hybridctl.versions.FLANNEL_REGISTRY)


@dataclass(frozen=True)
class Image:
    """An image to assemble: repository path and tag, files (path -> source), symlinks, entrypoint."""

    name: str
    tag: str
    files: dict[str, Path]
    entrypoint: str
    links: dict[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """``name:tag`` below the registry."""
        return f"{self.name}:{self.tag}"


def lab_images(binaries: LabBinaries) -> list[Image]:
    """Every image the lab's cluster pulls, from the built binaries."""
    kubernetes, tag = binaries.kubernetes, f"v{binaries.release}"
    etcd, coredns, pause, echo = binaries.etcd, binaries.coredns, binaries.pause, binaries.echo
    control_plane = [
        Image(n, tag, {f"/usr/local/bin/{n}": kubernetes / n}, f"/usr/local/bin/{n}")
        for n in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    proxy_files, proxy_links = iptables_payload()
    proxy = Image(
        "kube-proxy",
        tag,
        {"/usr/local/bin/kube-proxy": kubernetes / "kube-proxy", **proxy_files},
        "/usr/local/bin/kube-proxy",
        proxy_links,
    )
    return [
        *control_plane,
        proxy,
        Image("etcd", ETCD_TAG, {"/usr/local/bin/etcd": etcd / "etcd"}, "/usr/local/bin/etcd"),
        Image("coredns", COREDNS_TAG, {"/coredns": coredns / "coredns"}, "/coredns"),
        Image("coredns/coredns", COREDNS_TAG, {"/coredns": coredns / "coredns"}, "/coredns"),
        Image("pause", PAUSE_TAG, {"/pause": pause / "pause"}, "/pause"),
        Image("echo", ECHO_TAG, {"/echo": echo / "echo"}, "/echo"),
        Image(*AGNHOST, {"/agnhost": binaries.agnhost / "agnhost"}, "/agnhost"),
        *flannel_images(binaries),
    ]


def flannel_images(binaries: LabBinaries) -> list[Image]:
    """vxlan mode's images, named as kube-flannel's manifest names them below ``ghcr.io`` (the inventory
    mirrors ``ghcr.io`` to the lab registry). As upstream's flannel image (images/Dockerfile of flannel
    v0.28.10): ``/opt/bin/flanneld``, ``/opt/bin/install-conf`` and iptables (flanneld's --ip-masq and
    forward rules run the iptables commands); as upstream's flannel-cni-plugin image: ``/flannel`` and a
    ``cp`` for the init container's ``cp -f /flannel /opt/cni/bin/flannel`` (this machine's, with the
    shared libraries it loads)."""
    iptables_files, iptables_links = iptables_payload()
    flannel = Image(
        f"{FLANNEL_REPOSITORY}/flannel",
        FLANNEL_VERSION,
        {
            "/opt/bin/flanneld": binaries.flannel / "flanneld",
            "/opt/bin/install-conf": binaries.flannel / "install-conf",
            **iptables_files,
        },
        "/opt/bin/flanneld",
        iptables_links,
    )
    copy = Path(shutil.which("cp") or "/bin/cp").resolve()
    cp_files = {"/usr/bin/cp": copy, **{str(lib): lib.resolve() for lib in _shared_libraries(copy)}}
    plugin = Image(
        f"{FLANNEL_REPOSITORY}/flannel-cni-plugin",
        FLANNEL_CNI_PLUGIN_VERSION,
        {"/flannel": binaries.flannel_cni / "flannel", **cp_files},
        "/usr/bin/cp",
    )
    return [flannel, plugin]


def iptables_payload() -> tuple[dict[str, Path], dict[str, str]]:
    """Debian's iptables multi-binaries, their extensions and every shared library they need."""
    files: dict[str, Path] = {}
    roots = [Path(p) for p in IPTABLES_TOOLS if Path(p).exists()]
    roots += [Path(p) for p in glob.glob("/usr/lib/x86_64-linux-gnu/xtables/*.so")]
    for binary in roots:
        files[str(binary)] = binary
        for library in _shared_libraries(binary):
            files[str(library)] = library.resolve()
    links = {f"/usr/sbin/{name}": "xtables-nft-multi" for name in IPTABLES_NAMES}
    return files, links


def _shared_libraries(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
    found = []
    for line in out.splitlines():
        words = line.split()
        path = words[2] if len(words) > 2 and words[1] == "=>" else words[0] if words else ""
        if path.startswith("/"):
            found.append(Path(path))
    return found


def layer(image: Image) -> bytes:
    """A tar layer with the image's files (root-owned, executables 0755) and symlinks."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in sorted({p for path in [*image.files, *image.links] for p in _parents(path)}):
            info = tarfile.TarInfo(directory.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, source in sorted(image.files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = source.stat().st_size, 0o755
            with source.open("rb") as handle:
                tar.addfile(info, handle)
        for path, target in sorted(image.links.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def push(crane: Path, registry: str, image: Image, workdir: Path) -> str:
    """Assemble ``image`` in ``registry``; its digest."""
    tar = workdir / f"{image.name.replace('/', '_')}-{image.tag}.tar"
    tar.write_bytes(layer(image))
    reference = f"{registry}/{image.reference}"
    run_crane(crane, "append", "--insecure", "-f", str(tar), "-t", reference)
    mutate = ["mutate", "--insecure", reference, "--set-platform", "linux/amd64", "-e", f"PATH={PATH}"]
    run_crane(crane, *mutate, "--entrypoint", image.entrypoint, "-t", reference)
    return run_crane(crane, "digest", "--insecure", reference).strip()


def run_crane(crane: Path, *args: str) -> str:
    """Run crane; its stdout, or an error with its stderr."""
    done = subprocess.run([str(crane), *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"crane {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def registry(crane: Path, address: str, storage: Path) -> Iterator[str]:
    """``crane registry serve`` on ``address`` (a free port), blobs in ``storage``; yields ``host:port``."""
    port = _free_port(address)
    storage.mkdir(parents=True, exist_ok=True)
    with (storage.parent / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            [str(crane), "registry", "serve", "--address", f"{address}:{port}", "--disk", str(storage)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_accepting(address, port, process)
        yield f"{address}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _wait_accepting(address: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"crane registry serve exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"crane registry on {address}:{port} not accepting after {READY_TIMEOUT:g}s")
