"""The Kubernetes package repository at pkgs.k8s.io (or its mirror) for apt and dnf; what is installed.

pkgs.k8s.io has one repository per minor release (``core:/stable:/v1.37/deb/`` and ``.../rpm/``), so
pointing at the cluster's minor already keeps ``apt upgrade`` from crossing minors; hybridctl also holds
the packages (apt) or excludes them from the repository (dnf: ``exclude=``, lifted with
``--disableexcludes`` only for hybridctl's own install), so a patch upgrade happens only through hybridctl.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from hybridctl.artifacts import Catalog
from hybridctl.commands import shell
from hybridctl.errors import HybridctlError
from hybridctl.steps.host import HostView

PACKAGES = ("kubeadm", "kubelet", "kubectl")
APT_KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
APT_SOURCE = "/etc/apt/sources.list.d/kubernetes.list"
DNF_REPO = "/etc/yum.repos.d/kubernetes.repo"
DNF_REPO_ID = "kubernetes"
_APT_STATUS = "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' \"$@\" 2>/dev/null || true"
_RPM_STATUS = (
    "rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' \"$@\" 2>/dev/null | grep -v 'not installed' || true"
)
_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


class RepositoryError(HybridctlError):
    """The repository's signing key or index could not be read."""


@dataclass(frozen=True)
class Installed:
    """An installed package: its full version and whether it is held (apt)."""

    version: str
    held: bool

    def is_release(self, release: str) -> bool:
        """True when the package is upstream release ``release`` (``1.37.2``), whatever its revision."""
        return self.version.split("-", 1)[0] == release


def repository_url(catalog: Catalog, family: str) -> str:
    """Base URL of the cluster minor's repository for ``apt`` or ``dnf`` (ends in a slash)."""
    return catalog.package_repository("deb" if family == "apt" else "rpm")


def apt_key_url(repository: str) -> str:
    """Where pkgs.k8s.io publishes the repository's signing key (ASCII-armored)."""
    return repository + "Release.key"


def apt_source(repository: str) -> bytes:
    """The apt source list: a flat repository, trusted only with its own keyring."""
    return (
        "# Installed by hybridctl: Kubernetes packages of one minor release.\n"
        f"deb [signed-by={APT_KEYRING}] {repository} /\n"
    ).encode()


def dnf_repo(repository: str) -> bytes:
    """The dnf repository file; ``exclude`` keeps ``dnf upgrade`` from moving the packages."""
    return (
        "# Installed by hybridctl: Kubernetes packages of one minor release.\n"
        f"[{DNF_REPO_ID}]\n"
        "name=Kubernetes\n"
        f"baseurl={repository}\n"
        "enabled=1\n"
        "gpgcheck=1\n"
        f"gpgkey={repository}repodata/repomd.xml.key\n"
        "exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni\n"
    ).encode()


def installed(host: HostView, family: str, names: Sequence[str] = PACKAGES) -> dict[str, Installed]:
    """Installed versions of ``names`` (absent when not installed)."""
    script = _APT_STATUS if family == "apt" else _RPM_STATUS
    found = {}
    for line in host.run(shell(script, *names, probe=True)).stdout.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] in names:
            status = fields[2] if len(fields) > 2 else "ii"
            if family != "apt" or status[1:2] == "i":
                found[fields[0]] = Installed(fields[1], family == "apt" and status.startswith("h"))
    return found


def choose_version(madison: str, package: str, release: str) -> str:
    """The newest revision of ``release`` in ``apt-cache madison`` output (``1.37.2-1.1``)."""
    for line in madison.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[0] == package and fields[1].split("-", 1)[0] == release:
            return fields[1]
    raise RepositoryError(
        f"the repository offers no {package} {release}", hint="check the mirror or the version"
    )


def dearmor(armored: str) -> bytes:
    """The binary keyring of an ASCII-armored OpenPGP key (what ``gpg --dearmor`` writes), CRC-checked."""
    lines = [line.strip() for line in armored.strip().splitlines()]
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP PUBLIC KEY BLOCK"))
        end = next(i for i, line in enumerate(lines) if line.startswith("-----END PGP PUBLIC KEY BLOCK"))
        body = lines[start + 1 : end]
        body = body[body.index("") + 1 :] if "" in body else body  # armor headers end at a blank line
        crc = [line for line in body if line.startswith("=")]
        data = base64.b64decode("".join(line for line in body if not line.startswith("=")), validate=True)
    except (StopIteration, binascii.Error) as exc:
        raise RepositoryError("the repository's signing key is not an ASCII-armored OpenPGP key") from exc
    if crc and base64.b64decode(crc[0][1:]) != crc24(data).to_bytes(3, "big"):
        raise RepositoryError("the repository's signing key fails its armor checksum (damaged download?)")
    return data


def crc24(data: bytes) -> int:
    """The OpenPGP armor checksum (RFC 4880, 6.1)."""
    crc = _CRC24_INIT
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    return crc & 0xFFFFFF
