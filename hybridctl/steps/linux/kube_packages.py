"""``kube-packages``: kubeadm, kubelet and kubectl of the cluster's exact version from pkgs.k8s.io, held."""

from __future__ import annotations

import hashlib
from typing import ClassVar

from hybridctl.artifacts import Catalog
from hybridctl.commands import posix
from hybridctl.platforms.linux import LinuxPlatform
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux import repository as repo
from hybridctl.steps.linux.common import LinuxStep, platform, unit_changes
from hybridctl.versions import KubeVersion

KUBELET = "kubelet.service"
KUBELET_KUBECONFIG = "/etc/kubernetes/kubelet.conf"
_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


class KubePackages(LinuxStep):
    """Repository file (+ key for apt), exact-version packages, held; kubelet enabled for kubeadm to start."""

    name: ClassVar[str] = "kube-packages"
    title: ClassVar[str] = "install kubeadm, kubelet and kubectl"
    timeout: ClassVar[float] = 1200.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Repository files that differ, packages of another version or not held, kubelet not enabled."""
        linux = platform(ctx, host)
        changes = [Change(f"write {path}") for path, _ in self._differing_files(host, ctx, linux)]
        changes += self._package_changes(host, ctx, linux)
        return changes + unit_changes(ctx, host, [KUBELET], start=False)

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the repository, install the exact versions, hold them, enable the kubelet."""
        linux = platform(ctx, host)
        for path, data in self._differing_files(host, ctx, linux):
            linux.install_file(host, path, data, 0o644)
        if self._package_changes(host, ctx, linux):
            install = _apt_install if linux.family == "apt" else _dnf_install
            install(host, _release(ctx))
        linux.systemctl(host, "enable", KUBELET)

    def _wanted_files(self, host: HostView, ctx: StepContext, linux: LinuxPlatform) -> dict[str, bytes]:
        url = repo.repository_url(Catalog(ctx.cluster), linux.family)
        if linux.family != "apt":
            return {repo.DNF_REPO: repo.dnf_repo(url)}
        key_url = repo.apt_key_url(url)
        key: bytes = ctx.state.setdefault(
            f"apt-key/{key_url}", lambda: repo.dearmor(linux.fetch_text(host, key_url))
        )
        return {repo.APT_KEYRING: key, repo.APT_SOURCE: repo.apt_source(url)}

    def _differing_files(
        self, host: HostView, ctx: StepContext, linux: LinuxPlatform
    ) -> list[tuple[str, bytes]]:
        wanted = self._wanted_files(host, ctx, linux)
        hashes = linux.file_hashes(host, list(wanted))
        return [(path, data) for path, data in wanted.items() if hashes[path] != _sha256(data)]

    def _package_changes(self, host: HostView, ctx: StepContext, linux: LinuxPlatform) -> list[Change]:
        release = _release(ctx)
        found = repo.installed(host, linux.family)
        _refuse_member_version_change(host, linux, found, release)
        changes = []
        for name in repo.PACKAGES:
            current = found.get(name)
            if current is None or not current.is_release(release):
                was = f" (now {current.version})" if current else ""
                changes.append(Change(f"install {name} {release}{was}"))
            elif linux.family == "apt" and not current.held:
                changes.append(Change(f"hold {name} at {current.version}"))
        return changes


def _refuse_member_version_change(
    host: HostView, linux: LinuxPlatform, found: dict[str, repo.Installed], release: str
) -> None:
    """A node of the cluster keeps its version: installing other packages there would half-upgrade it.

    Upgrades go through ``kubeadm upgrade`` on the control plane first and then node by node with drains
    (kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/); hybridctl does not do that yet.
    """
    others = {
        n: i.version for n, i in found.items() if n in ("kubeadm", "kubelet") and not i.is_release(release)
    }
    if not others or linux.file_hashes(host, [KUBELET_KUBECONFIG])[KUBELET_KUBECONFIG] is None:
        return
    running = ", ".join(f"{name} {version}" for name, version in sorted(others.items()))
    raise StepError(
        f"{host.name} is a cluster node with {running}, the inventory asks for {release}: "
        "upgrades and downgrades are not supported yet",
        hint="set spec.kubernetes.version to the cluster's version, or upgrade with kubeadm upgrade first",
    )


def _release(ctx: StepContext) -> str:
    return str(KubeVersion.parse(ctx.cluster.spec.kubernetes.version))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _apt_install(host: HostHandle, release: str) -> None:
    host.run(posix("apt-get", "update", "-q", env=_APT_ENV), timeout=600)
    pins = []
    for name in repo.PACKAGES:
        madison = host.run(posix("apt-cache", "madison", name)).stdout
        pins.append(f"{name}={repo.choose_version(madison, name, release)}")
    flags = ("-y", "-q", "--allow-downgrades", "--allow-change-held-packages")
    host.run(posix("apt-get", "install", *flags, *pins, env=_APT_ENV), timeout=900)
    host.run(posix("apt-mark", "hold", *repo.PACKAGES))


def _dnf_install(host: HostHandle, release: str) -> None:
    pins = [f"{name}-{release}" for name in repo.PACKAGES]
    host.run(posix("dnf", "install", "-y", f"--disableexcludes={repo.DNF_REPO_ID}", *pins), timeout=900)
