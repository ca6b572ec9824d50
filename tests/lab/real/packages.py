"""kubeadm, kubelet, kubectl and kubernetes-cni as .deb packages in a signed apt repository like pkgs.k8s.io.

The packages carry what the upstream ones carry (kubernetes/release ``cmd/krel/templates/latest``: the
``.spec`` files, ``metadata.yaml`` for dependencies, ``kubelet.service``, ``10-kubeadm.conf``,
``kubelet.env``): ``/usr/bin/<binary>``, kubelet's unit and ``/etc/default/kubelet``, kubeadm's drop-in, the
CNI plugins in ``/opt/cni/bin``; versions ``<release>-1.1`` as pkgs.k8s.io numbers them. Since 1.32 kubeadm
has no dependencies and the kubelet depends on ``kubernetes-cni (>= 1.2.0)``.

The repository is flat, at ``<root>/pkgs.k8s.io/core:/stable:/v<minor>/deb/`` (the path hybridctl's
mirror mode asks for), with ``Packages``, ``Packages.gz``, ``Release`` (apt-ftparchive), ``InRelease`` and
``Release.gpg`` signed by a throw-away key, and ``Release.key`` (the ASCII-armored public key, which
hybridctl downloads and de-armors itself).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REVISION = "1.1"
MAINTAINER = "Kubernetes Authors <dev@kubernetes.io>"
CNI_VERSION = "1.6.2"
KUBELET_SERVICE = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""
KUBEADM_DROP_IN = """\
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
--kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the \
KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, \
the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS \
should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS \
$KUBELET_EXTRA_ARGS
"""
KUBELET_ENV = "KUBELET_EXTRA_ARGS=\n"


@dataclass(frozen=True)
class Package:
    """One .deb: name, version, dependencies, description, and files (path in the package -> content)."""

    name: str
    version: str
    depends: str
    description: str
    files: dict[str, Path | str]
    section: str = "admin"

    @property
    def filename(self) -> str:
        """The .deb's file name."""
        return f"{self.name}_{self.version}_amd64.deb"


def kube_packages(kubernetes: Path, cni: Path, release: str) -> list[Package]:
    """kubeadm, kubelet, kubectl of ``release`` from the built binaries, and kubernetes-cni."""
    version = f"{release}-{REVISION}"
    keep = "# keep\n"
    plugins = {f"/opt/cni/bin/{p.name}": p for p in sorted(cni.iterdir()) if not p.name.startswith(".")}
    return [
        Package(
            "kubeadm",
            version,
            "",
            "Command-line utility for administering a Kubernetes cluster",
            {
                "/usr/bin/kubeadm": kubernetes / "kubeadm",
                "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": KUBEADM_DROP_IN,
            },
        ),
        Package(
            "kubelet",
            version,
            "kubernetes-cni (>= 1.2.0), mount, util-linux",
            "Node agent for Kubernetes clusters",
            {
                "/usr/bin/kubelet": kubernetes / "kubelet",
                "/usr/lib/systemd/system/kubelet.service": KUBELET_SERVICE,
                "/etc/default/kubelet": KUBELET_ENV,
                "/var/lib/kubelet/.kubelet-keep": keep,
                "/etc/kubernetes/manifests/.kubelet-keep": keep,
            },
            section="net",
        ),
        Package(
            "kubectl",
            version,
            "",
            "Command-line utility for interacting with a Kubernetes cluster",
            {"/usr/bin/kubectl": kubernetes / "kubectl"},
        ),
        Package(
            "kubernetes-cni",
            f"{CNI_VERSION}-{REVISION}",
            "",
            "Binaries required to provision kubernetes container networking",
            plugins,
            section="net",
        ),
    ]


def build_deb(package: Package, out: Path) -> Path:
    """Write ``package`` as a .deb into ``out`` with dpkg-deb (root-owned files)."""
    target = out / package.filename
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(dir=out) as staging:
        root = Path(staging)
        for path, content in package.files.items():
            _place(root / path.lstrip("/"), content)
        control = root / "DEBIAN"
        control.mkdir()
        (control / "control").write_text(_control(package, root))
        if "/etc/default/kubelet" in package.files:
            (control / "conffiles").write_text("/etc/default/kubelet\n")
        partial = out / f".{package.filename}.partial"
        argv = ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(root), str(partial)]
        subprocess.run(argv, check=True, capture_output=True)
        partial.rename(target)
    return target


def _place(path: Path, content: Path | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, Path):
        shutil.copyfile(content, path)
        path.chmod(0o755)
    else:
        path.write_text(content)
        path.chmod(0o644)


def _control(package: Package, root: Path) -> str:
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) // 1024
    depends = f"Depends: {package.depends}\n" if package.depends else ""
    return (
        f"Package: {package.name}\nVersion: {package.version}\nArchitecture: amd64\n"
        f"Maintainer: {MAINTAINER}\nInstalled-Size: {size}\n{depends}Section: {package.section}\n"
        f"Priority: optional\nHomepage: https://kubernetes.io\nDescription: {package.description}\n"
    )


def repository_dir(root: Path, release: str) -> Path:
    """Where the repository of ``release``'s minor lives under a mirror root (pkgs.k8s.io's layout)."""
    minor = ".".join(release.split(".")[:2])
    return root / "pkgs.k8s.io" / "core:" / "stable:" / f"v{minor}" / "deb"


def publish(debs: list[Path], repository: Path, signer: Signer) -> None:
    """Lay out ``debs`` as a flat, signed apt repository in ``repository``."""
    pool = repository / "amd64"
    pool.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        shutil.copyfile(deb, pool / deb.name)
    scan = ["dpkg-scanpackages", "--multiversion", "amd64", "/dev/null"]
    packages = subprocess.run(scan, cwd=repository, check=True, capture_output=True).stdout
    (repository / "Packages").write_bytes(packages)
    (repository / "Packages.gz").write_bytes(gzip.compress(packages))
    release = subprocess.run(
        ["apt-ftparchive", *_release_fields(repository), "release", "."],
        cwd=repository,
        check=True,
        capture_output=True,
    ).stdout
    (repository / "Release").write_bytes(release)
    signer.sign(repository / "Release")
    (repository / "Release.key").write_text(signer.public_key)


def _release_fields(repository: Path) -> list[str]:
    minor = repository.parent.name
    label = f"isv:kubernetes:core:stable:{minor}"
    fields = {"Origin": f"obs://build.opensuse.org/{label}/deb", "Label": label, "Architectures": "amd64"}
    return [
        arg for key, value in fields.items() for arg in ("-o", f"APT::FTPArchive::Release::{key}={value}")
    ]


class Signer:
    """A throw-away OpenPGP key (ed25519) in a private GNUPGHOME; signs Release files like OBS does."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.public_key = ""

    def _gpg(self, *args: str, input: bytes | None = None) -> bytes:
        env = {**os.environ, "GNUPGHOME": str(self.home)}
        argv = ["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", *args]
        return subprocess.run(argv, env=env, input=input, check=True, capture_output=True).stdout

    def create(self) -> None:
        """Generate the key and remember its armored public half."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        uid = "hybridctl lab apt repository <lab@hybridctl.invalid>"
        self._gpg("--quick-generate-key", uid, "ed25519", "sign", "never")
        self.public_key = self._gpg("--armor", "--export").decode()

    def sign(self, release: Path) -> None:
        """Write ``InRelease`` (clear-signed) and ``Release.gpg`` (detached) beside ``release``."""
        self._gpg("--yes", "--clearsign", "--output", str(release.with_name("InRelease")), str(release))
        self._gpg(
            "--yes", "--armor", "--detach-sign", "--output", str(release.with_suffix(".gpg")), str(release)
        )

    def close(self) -> None:
        """Stop the gpg-agent this key's home started, then delete the home."""
        env = {**os.environ, "GNUPGHOME": str(self.home)}
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)


@contextmanager
def signer() -> Iterator[Signer]:
    """A fresh signing key, removed (with its agent) afterwards; GNUPGHOME short enough for its sockets."""
    key = Signer(Path(tempfile.mkdtemp(prefix="hx-gpg-")))
    try:
        key.create()
        yield key
    finally:
        key.close()


def apt_repository(root: Path, kubernetes: Path, cni: Path, release: str, debs: Path) -> Path:
    """Build the packages (cached in ``debs``) and publish them signed under ``root``; the repository dir."""
    debs.mkdir(parents=True, exist_ok=True)
    built = [build_deb(p, debs) for p in kube_packages(kubernetes, cni, release)]
    repository = repository_dir(root, release)
    with signer() as key:
        publish(built, repository, key)
    return repository
