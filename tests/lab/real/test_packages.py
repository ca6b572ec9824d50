"""Tier: lab, real Kubernetes (its artifact sources). Nothing here is emulated.

Real: kubeadm, kubelet, kubectl, the control plane, etcd, CoreDNS, the CNI plugins, runc and crictl built
from their pinned Go modules; .deb packages made by dpkg-deb; an apt repository indexed by
dpkg-scanpackages and apt-ftparchive and signed with gpg; apt on a systemd test host (signature checking
on, keyring as hybridctl writes it, at the URL hybridctl's mirror mode derives); images assembled by
crane in a registry served by ``crane registry serve``. The packages' unit files are copies of
upstream's (see packages.py).
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridctl.artifacts import parse_checksum
from hybridctl.steps.linux import repository as repo
from tests.lab.real import images, packages, sources
from tests.lab.real import mirror as tarballs
from tests.lab.real.artifacts import LabBinaries
from tests.lab.real.fixtures import SystemdHostFactory
from tests.lab.real.hosts import SystemdHost, SystemdHosts
from tests.lab.real.serve import http_server
from tests.upstream.build import DEFAULT_KUBERNETES

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]


@dataclass(frozen=True)
class Mirror:
    """The lab's artifact mirror: its directory and the URL the hosts reach it at."""

    root: Path
    url: str


@pytest.fixture(scope="module")
def mirror(
    lab_binaries: LabBinaries, systemd_lab: SystemdHosts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mirror]:
    """The signed apt repository under a mirror root, served on the lab's gateway."""
    root = tmp_path_factory.mktemp("mirror")
    sources.publish_apt(root, lab_binaries)
    with http_server(root, systemd_lab.addressing.gateway) as url:
        yield Mirror(root, url)


def _trust(host: SystemdHost, url: str) -> None:
    """Write the keyring and source list exactly as hybridctl's kube-packages step does."""
    armored = host.exec("curl", "-fsS", repo.apt_key_url(url)).stdout
    (host.root / repo.APT_KEYRING.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (host.root / repo.APT_KEYRING.lstrip("/")).write_bytes(repo.dearmor(armored))
    (host.root / repo.APT_SOURCE.lstrip("/")).write_bytes(repo.apt_source(url))


def _apt(host: SystemdHost, *args: str) -> subprocess.CompletedProcess[str]:
    return host.exec("env", "DEBIAN_FRONTEND=noninteractive", *args, check=False, timeout=600)


def test_apt_installs_the_built_packages_from_the_signed_repository(
    mirror: Mirror, lab_binaries: LabBinaries, systemd_hosts: SystemdHostFactory, tmp_path: Path
) -> None:
    """apt verifies InRelease, offers 1.37.2-1.1 to madison, installs the exact pins with their units."""
    (host,) = systemd_hosts(1)
    release = lab_binaries.release
    url = repo.repository_url(sources.catalog(mirror.url, release, tmp_path), "apt")
    _trust(host, url)
    update = _apt(host, "apt-get", "update", "-q")
    assert update.returncode == 0, update.stdout + update.stderr
    assert "NO_PUBKEY" not in update.stderr and "not signed" not in update.stderr
    pins = []
    for name in repo.PACKAGES:
        madison = host.exec("apt-cache", "madison", name).stdout
        version = repo.choose_version(madison, name, release)
        assert version == f"{release}-1.1"
        pins.append(f"{name}={version}")
    install = _apt(host, "apt-get", "install", "-y", "-q", *pins)
    assert install.returncode == 0, install.stdout + install.stderr
    assert host.exec("kubeadm", "version", "-o", "short").stdout.strip() == f"v{release}"
    assert host.exec("kubelet", "--version").stdout.strip() == f"Kubernetes v{release}"
    client = json.loads(host.exec("kubectl", "version", "--client", "-o", "json").stdout)
    assert client["clientVersion"]["gitVersion"] == f"v{release}"
    assert "10-kubeadm.conf" in host.exec("systemctl", "cat", "kubelet.service").stdout
    assert host.exec("test", "-x", "/opt/cni/bin/bridge", check=False).returncode == 0
    installed = host.exec("dpkg-query", "-W", "kubernetes-cni").stdout
    assert installed.split() == ["kubernetes-cni", f"{packages.CNI_VERSION}-1.1"]


def test_apt_refuses_the_repository_signed_by_another_key(
    mirror: Mirror, lab_binaries: LabBinaries, systemd_hosts: SystemdHostFactory, tmp_path: Path
) -> None:
    """The signature is really checked: a Release re-signed by a stranger's key fails ``apt-get update``."""
    (host,) = systemd_hosts(1)
    url = repo.repository_url(sources.catalog(mirror.url, lab_binaries.release, tmp_path), "apt")
    _trust(host, url)
    served = packages.repository_dir(mirror.root, lab_binaries.release)
    with packages.signer() as stranger:
        stranger.sign(served / "Release")
    try:
        update = _apt(host, "apt-get", "update", "-q")
    finally:
        sources.publish_apt(mirror.root, lab_binaries)  # a fresh key signs it again; Release.key follows
    output = update.stdout + update.stderr
    assert update.returncode != 0, output
    assert "NO_PUBKEY" in output or "signatures couldn't be verified" in output, output


def test_registry_serves_every_image_kubeadm_and_the_tests_pull(
    lab_binaries: LabBinaries, systemd_lab: SystemdHosts, tmp_path: Path
) -> None:
    """Each image is listed with its tag, is linux/amd64, has its entrypoint and PATH set; agnhost's runs."""
    crane = lab_binaries.crane / "crane"
    wanted = images.lab_images(lab_binaries)
    with images.registry(crane, systemd_lab.addressing.gateway, tmp_path / "blobs") as registry:
        digests = {image.reference: images.push(crane, registry, image, tmp_path) for image in wanted}
        for image in wanted:
            tags = images.run_crane(crane, "ls", "--insecure", f"{registry}/{image.name}").split()
            assert image.tag in tags
            config = json.loads(
                images.run_crane(crane, "config", "--insecure", f"{registry}/{image.reference}")
            )
            assert (config["os"], config["architecture"]) == ("linux", "amd64")
            assert config["config"]["Entrypoint"] == [image.entrypoint]
            assert f"PATH={images.PATH}" in config["config"]["Env"]
            assert digests[image.reference].startswith("sha256:")
        exported = tmp_path / "kube-proxy-fs.tar"
        proxy = f"{registry}/kube-proxy:v{lab_binaries.release}"
        images.run_crane(crane, "export", "--insecure", proxy, str(exported))
        agnhost, reference = tmp_path / "agnhost-fs.tar", ":".join(images.AGNHOST)
        images.run_crane(crane, "export", "--insecure", f"{registry}/{reference}", str(agnhost))
    _assert_agnhost_serves_netexec(agnhost, tmp_path)
    with tarfile.open(exported) as filesystem:
        names = set(filesystem.getnames())
    # kube-proxy's image: the binary and Debian's iptables, as upstream's distroless-iptables base carries
    assert {"usr/local/bin/kube-proxy", "usr/sbin/xtables-nft-multi", "usr/sbin/iptables-restore"} <= names


def _assert_agnhost_serves_netexec(exported: Path, tmp_path: Path) -> None:
    """The image's /agnhost is upstream's e2e program: ``netexec`` answers ``/hostname`` on loopback."""
    with tarfile.open(exported) as filesystem:
        filesystem.extract("agnhost", tmp_path, filter="data")
    binary = tmp_path / "agnhost"
    binary.chmod(0o755)
    port = _free_loopback_port()
    server = subprocess.Popen(
        [str(binary), "netexec", f"--http-port={port}", "--udp-port=-1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _http_get(f"http://127.0.0.1:{port}/hostname", timeout=30.0) == socket.gethostname()
    finally:
        server.terminate()
        server.wait(timeout=10)


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _http_get(url: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return str(answer.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_release_files_sit_where_hybridctls_mirror_mode_downloads_them(
    lab_binaries: LabBinaries, tmp_path: Path
) -> None:
    """containerd's, runc's, the CNI plugins' and crictl's release files: upstream layout, checksum files
    hybridctl parses, binaries that report the versions hybridctl's defaults name."""
    catalog = sources.catalog("http://mirror.lab/", DEFAULT_KUBERNETES, tmp_path)
    root = tmp_path / "mirror"
    members = {
        "containerd-linux": set(tarballs.containerd_files(lab_binaries.containerd)),
        "cni-plugins-linux": set(tarballs.cni_files(lab_binaries.cni)),
        "crictl-linux": {"crictl"},
    }
    for artifact, data in sources.release_files(lab_binaries, catalog):
        placed = tarballs.place(root, "http://mirror.lab/", artifact, data)
        assert artifact.checksum_url is not None
        checksum = tarballs.local_path(root, artifact.checksum_url).read_text()
        assert parse_checksum(checksum, artifact.filename) == hashlib.sha256(placed.read_bytes()).hexdigest()
        if artifact.name == "runc":
            assert artifact.filename == "runc.amd64"
            continue
        with tarfile.open(placed) as archive:
            files = {m.name for m in archive.getmembers() if m.isfile() and m.mode & 0o111}
        assert files == members[artifact.name]
    assert f"v{catalog.containerd} " in _version(lab_binaries.containerd / "containerd", "--version")
    runc = _version(lab_binaries.runc / "runc", "--version")
    assert f"runc version {catalog.spec.runc_version}\n" in runc and "libseccomp" in runc
    assert f"v{catalog.cluster.crictl_version}" in _version(lab_binaries.crictl / "crictl", "--version")


def _version(binary: Path, *args: str) -> str:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, check=True).stdout
