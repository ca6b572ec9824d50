"""Supported versions: one table of Kubernetes minors with the component versions each installs.

``RELEASES`` is the single source: validation, the defaults of the inventory, ``hybridctl version`` and
the README's version table are generated from it, so a new minor is a data change here plus whatever its
changelog requires of the templates (the ``KubeVersion`` properties below).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WINDOWS_BUILDS: dict[int, str] = {2019: "10.0.17763", 2022: "10.0.20348", 2025: "10.0.26100"}
"""Windows Server version -> ``node.kubernetes.io/windows-build`` label value."""

KUBELET_SKEW = 3
"""Upstream version skew policy: a kubelet (and kube-proxy) may be up to three minors older than the
kube-apiserver, never newer (kubernetes.io/releases/version-skew-policy)."""

UPSTREAM_SUPPORTED_MINORS = 3
"""Upstream publishes patch releases for the three newest minors (kubernetes.io/releases/patch-releases)."""

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Release:
    """One Kubernetes minor hybridctl supports, and what it installs with it by default.

    ``pause``, ``etcd`` and ``coredns`` are what that release's kubeadm pins (``PauseVersion``,
    ``DefaultEtcdVersion``, ``CoreDNSVersion`` in ``cmd/kubeadm/app/constants/constants.go``).
    ``containerd`` lists, per containerd minor, the oldest patch containerd's own compatibility matrix
    recommends for this Kubernetes minor (containerd ``RELEASES.md``, "Kubernetes Support", at v2.4.2).
    """

    minor: int
    newest_patch: int
    pause: str
    etcd: str
    coredns: str
    crictl: str
    containerd: tuple[str, ...]
    containerd_default: str

    @property
    def newest(self) -> str:
        """The newest patch release hybridctl knows, e.g. ``1.37.2``."""
        return f"1.{self.minor}.{self.newest_patch}"

    @property
    def series(self) -> str:
        """``1.37``."""
        return f"1.{self.minor}"

    @property
    def in_upstream_support(self) -> bool:
        """Upstream patches the three newest minors; an older row is kept only to upgrade from."""
        return self in RELEASES[-UPSTREAM_SUPPORTED_MINORS:]

    def containerd_supported(self, version: ContainerdVersion) -> bool:
        """Whether ``version`` is on one of the containerd lines recommended for this minor."""
        for oldest in self.containerd:
            floor = ContainerdVersion.parse(oldest)
            if (version.major, version.minor) == (floor.major, floor.minor):
                return version.patch >= floor.patch
        return False


# Sources per row: kubeadm constants.go of the pinned module (k8s.io/kubernetes v1.35.4, v1.36.3, v1.37.2);
# newest patches: the published staging tags k8s.io/api v0.35.10, v0.36.6, v0.37.2; crictl: the cri-tools
# release each Kubernetes release pins in build/dependencies.yaml; containerd defaults: the newest patch of
# the newest recommended line (github.com/containerd/containerd/v2 v2.2.9, v2.3.7, v2.4.2).
RELEASES: tuple[Release, ...] = (
    Release(
        minor=35,
        newest_patch=10,
        pause="3.10.1",
        etcd="3.6.6-0",
        coredns="v1.13.1",
        crictl="1.34.0",
        containerd=("2.2.0", "2.1.5", "1.7.28"),
        containerd_default="2.2.9",
    ),
    Release(
        minor=36,
        newest_patch=6,
        pause="3.10.2",
        etcd="3.6.8-0",
        coredns="v1.14.2",
        crictl="1.35.0",
        containerd=("2.3.0", "2.2.0"),
        containerd_default="2.3.7",
    ),
    Release(
        minor=37,
        newest_patch=2,
        pause="3.10.2",
        etcd="3.7.0-0",
        coredns="v1.14.6",
        crictl="1.36.0",
        containerd=("2.4.0", "2.3.0"),
        containerd_default="2.4.2",
    ),
)

DEFAULT_IMAGE_REPOSITORY = "registry.k8s.io"
"""kubeadm's ``DefaultImageRepository`` (``cmd/kubeadm/app/apis/kubeadm/v1beta4/defaults.go``)."""
PAUSE_TAG = "3.10.2"
"""The sandbox image tag hybridctl pins for every minor, also where kubeadm pins 3.10.1 (1.35): 3.10.2 is the
first pause whose manifest list covers Windows Server 2025 (kubernetes-sigs/windows-testing#557)."""

NEWEST = RELEASES[-1]
DEFAULT_VERSION = NEWEST.newest
"""The Kubernetes version an inventory gets when it names none: the newest patch of the newest minor."""
MIN_MINOR = RELEASES[0].minor
MAX_MINOR = NEWEST.minor
SUPPORTED_RANGE = f"1.{MIN_MINOR}.0 to 1.{MAX_MINOR}.x"


def release_of(minor: int) -> Release | None:
    """The table row of Kubernetes 1.``minor``, or None when hybridctl does not support it."""
    return next((r for r in RELEASES if r.minor == minor), None)


@dataclass(frozen=True, order=True)
class KubeVersion:
    """A Kubernetes release, major.minor.patch."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> KubeVersion:
        """Parse ``1.37.2`` or ``v1.37.2``; ValueError on anything else."""
        match = _VERSION_RE.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not an exact Kubernetes version like {DEFAULT_VERSION}")
        major, minor, patch = (int(g) for g in match.groups())
        return cls(major, minor, patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def tag(self) -> str:
        """Release tag, e.g. ``v1.37.2``."""
        return f"v{self}"

    @property
    def minor_series(self) -> str:
        """``v1.37``, as used by the package repositories at pkgs.k8s.io."""
        return f"v{self.major}.{self.minor}"

    @property
    def release(self) -> Release:
        """This minor's row of the table; the newest row for an unsupported version (validate refuses it)."""
        return (release_of(self.minor) if self.major == 1 else None) or NEWEST

    @property
    def supported(self) -> bool:
        """Whether hybridctl's templates were written and tested for this release."""
        return self.major == 1 and release_of(self.minor) is not None

    @property
    def kubeadm_api(self) -> str:
        """kubeadm config API: v1beta4 for every supported minor; 1.37 refuses v1beta3 (kubernetes#136016)."""
        return "kubeadm.k8s.io/v1beta4"


def kubeadm_images(version: KubeVersion, repository: str | None = None) -> dict[str, str]:
    """The images ``kubeadm config images pull`` / ``kubeadm init`` ask for, by component.

    Mirrors ``cmd/kubeadm/app/images/images.go`` (k8s.io/kubernetes v1.37.2, the same in 1.35 and 1.36):

    - kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy: ``<repo>/<name>:v1.37.2``
      (``GetKubernetesImage``; ``CIImageRepository`` only applies to CI builds);
    - etcd: ``<repo>/etcd:<DefaultEtcdVersion>`` (``GetEtcdImage``, no ``Etcd.Local.ImageRepository`` set);
    - pause: ``<repo>/pause:<PauseVersion>`` (``GetPauseImage``) -- kubeadm's own pin, which may differ
      from the sandbox image hybridctl pins (``PAUSE_TAG``): push both tags;
    - CoreDNS: ``GetDNSImage`` adds ``/coredns`` only when the repository IS the default
      ``registry.k8s.io`` (the upstream image was renamed to ``registry.k8s.io/coredns/coredns``). With a
      custom repository it is ``<repo>/coredns:<CoreDNSVersion>`` -- no extra ``coredns/`` path.

    kubeadm join has no imageRepository field (JoinConfiguration v1beta4): joining nodes read the
    ClusterConfiguration from the ``kubeadm-config`` ConfigMap (``fetchInitConfiguration`` in
    ``cmd/kubeadm/app/cmd/join.go``), so the init config is the one place it is set.
    """
    release = version.release
    repo = repository or DEFAULT_IMAGE_REPOSITORY
    dns_repo = f"{repo}/coredns" if repo == DEFAULT_IMAGE_REPOSITORY else repo
    images = {name: f"{repo}/{name}:{version.tag}" for name in _KUBERNETES_IMAGES}
    images["coredns"] = f"{dns_repo}/coredns:{release.coredns}"
    images["pause"] = f"{repo}/pause:{release.pause}"
    images["etcd"] = f"{repo}/etcd:{release.etcd}"
    return images


_KUBERNETES_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")

_CONTAINERD_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, order=True)
class ContainerdVersion:
    """A containerd release; its major version decides the config file layout."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> ContainerdVersion:
        """Parse ``2.4.2`` or ``v1.7.28``; ValueError on anything else."""
        match = _CONTAINERD_RE.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not an exact containerd version like 2.4.2")
        major, minor, patch = (int(g) for g in match.groups())
        return cls(major, minor, patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def config_version(self) -> int:
        """``version = 2`` layout (``io.containerd.grpc.v1.cri``) for 1.x, ``version = 3`` for 2.x."""
        return 3 if self.major >= 2 else 2

    @property
    def cni_bin_dirs_list(self) -> bool:
        """2.1 replaced the scalar ``bin_dir`` of the CNI section with the list ``bin_dirs``."""
        return (self.major, self.minor) >= (2, 1)


def support_document() -> dict[str, object]:
    """What ``hybridctl version --output json`` reports about Kubernetes, containerd and Windows."""
    return {
        "kubernetes": {
            "range": SUPPORTED_RANGE,
            "default": DEFAULT_VERSION,
            "minors": [_release_document(r) for r in reversed(RELEASES)],
        },
        "windowsServer": {str(v): build for v, build in WINDOWS_BUILDS.items()},
    }


def _release_document(release: Release) -> dict[str, object]:
    return {
        "minor": release.series,
        "newestPatch": release.newest,
        "upstreamSupport": release.in_upstream_support,
        "status": _status(release),
        "pause": release.pause,
        "etcd": release.etcd,
        "coredns": release.coredns,
        "crictl": release.crictl,
        "containerd": {
            "recommended": [f"{v}+" for v in release.containerd],
            "default": release.containerd_default,
        },
    }


def _status(release: Release) -> str:
    return "in upstream support" if release.in_upstream_support else "kept only to upgrade from"


def markdown_table() -> str:
    """The README's version table, generated from ``RELEASES`` (tests keep the README in step)."""
    rows = [
        "| Kubernetes | Status | Newest patch | containerd (default) | pause/etcd/CoreDNS | crictl |",
        "|---|---|---|---|---|---|",
    ]
    for r in reversed(RELEASES):
        default = " (default)" if r is NEWEST else ""
        lines = ", ".join(f"{v}+" for v in r.containerd)
        rows.append(
            f"| {r.series} | {_status(r)} | {r.newest}{default} | {lines} ({r.containerd_default}) "
            f"| {r.pause} / {r.etcd} / {r.coredns} | {r.crictl} |"
        )
    return "\n".join(rows) + "\n"
