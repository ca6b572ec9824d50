"""The real lab's artifact sources, served on a lab address: the mirror hybridctl downloads from and the
registry the kubelet, kubeadm and the tests pull images from.

- Mirror (plain HTTP, ``serve.py``): the signed apt repository of kubeadm/kubelet/kubectl/kubernetes-cni
  (``packages.py``) and the release files of containerd, runc, the CNI plugins and crictl (``mirror.py``),
  each at the path hybridctl's ``artifacts.source: mirror`` asks for, with its upstream checksum file.
- Registry (``crane registry serve``, plain HTTP): every image of ``images.lab_images`` at the top of the
  registry, so the inventory's ``imageRepository`` is the registry's ``host:port`` itself; kubeadm then
  asks for ``<repo>/kube-apiserver:v1.37.2``, ``<repo>/etcd:3.7.0-0``, ``<repo>/coredns:v1.14.6`` (a custom
  repository drops CoreDNS's ``coredns/`` path, kubeadm's ``images.go`` GetDNSImage) and
  ``<repo>/pause:3.10.2``.

Both listen on the lab bridge's gateway address, which every lab host routes to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hybridctl.artifacts import Artifact, Catalog
from hybridctl.inventory import load_inventory
from tests.lab.real import images, packages
from tests.lab.real import mirror as tarballs
from tests.lab.real.artifacts import CACHE, LabBinaries
from tests.lab.real.serve import http_server
from tests.support.inventory import write_inventory


@dataclass(frozen=True)
class LabSources:
    """Where the lab's hosts download from: the mirror's directory and base URL, the registry's host:port."""

    mirror_root: Path
    mirror_url: str
    registry: str
    agnhost: str = ""
    """The lab's agnhost as ``host:port/e2e-test-images/agnhost:<tag>@<digest>``: the smoke image the lab's
    inventories name (``spec.smoke.image``), pinned like hybridctl's default, by the lab build's own digest
    (the default's digest is upstream's, which the lab registry cannot serve)."""

    @property
    def image_repository(self) -> str:
        """The ``imageRepository`` kubeadm and the pause image are pointed at."""
        return self.registry


def catalog(mirror_url: str, release: str, workdir: Path, mode: str = "routes") -> Catalog:
    """hybridctl's own view of a one-host inventory (network ``mode``) that downloads from ``mirror_url``."""
    entry = {"name": "cp", "address": "10.0.0.1", "role": "control-plane", "os": "linux"}
    spec = {
        "kubernetes": {"version": release},
        "artifacts": {"source": "mirror", "mirrorUrl": mirror_url},
        "network": {"mode": mode},
    }
    path = write_inventory(workdir / "catalog.yaml", [{**entry, "ssh": {"user": "root"}}], **spec)
    loaded = load_inventory(path)
    assert loaded.cluster is not None, loaded.problems
    return Catalog(loaded.cluster)


def release_files(binaries: LabBinaries, catalog: Catalog) -> list[tuple[Artifact, bytes]]:
    """containerd's, runc's, the CNI plugins' and crictl's release files, as the catalog names them."""
    return [
        (
            catalog.containerd_archive("linux"),
            tarballs.tarball(tarballs.containerd_files(binaries.containerd)),
        ),
        (catalog.runc(), (binaries.runc / "runc").read_bytes()),
        (catalog.cni_plugins("linux"), tarballs.tarball(tarballs.cni_files(binaries.cni))),
        (catalog.crictl("linux"), tarballs.tarball(tarballs.crictl_files(binaries.crictl))),
    ]


def publish_apt(root: Path, binaries: LabBinaries) -> Path:
    """The signed apt repository under ``root`` (a fresh key each time; the .debs are cached per build)."""
    debs = CACHE / f"debs-{binaries.kubernetes_stamp}"
    return packages.apt_repository(root, binaries.kubernetes, binaries.cni, binaries.release, debs)


def publish_mirror(root: Path, url: str, binaries: LabBinaries, workdir: Path) -> None:
    """Fill the mirror directory served at ``url``: the signed apt repository and the release files."""
    publish_apt(root, binaries)
    for artifact, data in release_files(binaries, catalog(url, binaries.release, workdir)):
        tarballs.place(root, url, artifact, data)


@contextlib.contextmanager
def lab_sources(binaries: LabBinaries, address: str, workdir: Path) -> Iterator[LabSources]:
    """The mirror and the registry, filled and serving on ``address`` until the block ends."""
    root = workdir / "mirror"
    root.mkdir(parents=True, exist_ok=True)
    crane = binaries.crane / "crane"
    with (
        http_server(root, address) as url,
        images.registry(crane, address, workdir / "registry" / "blobs") as registry,
    ):
        publish_mirror(root, url, binaries, workdir)
        digests = {
            image.reference: images.push(crane, registry, image, workdir / "registry")
            for image in images.lab_images(binaries)
        }
        agnhost = ":".join(images.AGNHOST)
        yield LabSources(root, url, registry, f"{registry}/{agnhost}@{digests[agnhost]}")
