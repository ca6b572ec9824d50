"""A Debian 12 root file system for the real Linux test hosts, built once by debootstrap and cached.

``python -m tests.lab.real.rootfs`` builds (or finds) the tarball and prints its path. The cache key is the
package list, so changing it builds a new root. The tarball lives in ``tests/lab/real/.cache`` (gitignored);
each host unpacks its own copy, so hosts never share a writable root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
SUITE = "bookworm"
MIRROR = os.environ.get("HYBRIDCTL_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# systemd as PID 1 and sshd; what kubeadm's preflight and the kubelet look for (iptables, conntrack,
# ethtool, socat, ebtables, mount, nsenter); what hybridctl's install path runs (curl, sudo, apt, tar).
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "iptables",
    "conntrack",
    "ethtool",
    "socat",
    "ebtables",
    "kmod",
    "curl",
    "ca-certificates",
    "sudo",
    "procps",
    "util-linux",
    "mount",
)


def tarball_path() -> Path:
    """Where the cached root for the current package list lives."""
    key = hashlib.sha256(f"{SUITE} {' '.join(PACKAGES)}".encode()).hexdigest()[:12]
    return CACHE / f"debian-{SUITE}-{key}.tar"


def build() -> Path:
    """The cached root tarball, built by ``debootstrap --variant=minbase`` when missing."""
    target = tarball_path()
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE))
    try:
        root = work / "root"
        include = ",".join(PACKAGES)
        argv = ["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(root), MIRROR]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        _trim(root)
        partial = work / "root.tar"
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _trim(root: Path) -> None:
    """Drop what only a downloader needs (apt's .deb cache) and what must be unique per host."""
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    for unique in ("etc/machine-id", "etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_rsa_key"):
        (root / unique).unlink(missing_ok=True)
    (root / "etc/machine-id").write_text("")


if __name__ == "__main__":
    print(build())
    sys.exit(0)
