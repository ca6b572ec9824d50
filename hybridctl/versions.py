"""Supported versions and the places where upstream changed a flag or a field between releases."""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_MINOR = 30
MAX_MINOR = 35
SUPPORTED_RANGE = f"1.{MIN_MINOR}.0 to 1.{MAX_MINOR}.x"

WINDOWS_BUILDS: dict[int, str] = {2019: "10.0.17763", 2022: "10.0.20348", 2025: "10.0.26100"}
"""Windows Server version -> ``node.kubernetes.io/windows-build`` label value."""

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, order=True)
class KubeVersion:
    """A Kubernetes release, major.minor.patch."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> KubeVersion:
        """Parse ``1.34.2`` or ``v1.34.2``; ValueError on anything else."""
        match = _VERSION_RE.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not an exact Kubernetes version like 1.34.2")
        major, minor, patch = (int(g) for g in match.groups())
        return cls(major, minor, patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def tag(self) -> str:
        """Release tag, e.g. ``v1.34.2``."""
        return f"v{self}"

    @property
    def minor_series(self) -> str:
        """``v1.34``, as used by the package repositories at pkgs.k8s.io."""
        return f"v{self.major}.{self.minor}"

    @property
    def supported(self) -> bool:
        """Whether hybridctl's templates were written and tested for this release."""
        return self.major == 1 and MIN_MINOR <= self.minor <= MAX_MINOR

    @property
    def kubeadm_api(self) -> str:
        """kubeadm config API group version: v1beta4 from 1.31, v1beta3 before."""
        return "kubeadm.k8s.io/v1beta4" if self.minor >= 31 else "kubeadm.k8s.io/v1beta3"

    @property
    def kubeadm_extra_args_as_list(self) -> bool:
        """v1beta4 writes extraArgs/kubeletExtraArgs as name/value lists, v1beta3 as maps."""
        return self.minor >= 31

    @property
    def windows_gates_locked(self) -> bool:
        """WinDSR and WinOverlay are GA and locked from 1.34: passing them is pointless and later fatal."""
        return self.minor >= 34


_CONTAINERD_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True, order=True)
class ContainerdVersion:
    """A containerd release; its major version decides the config file layout."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> ContainerdVersion:
        """Parse ``2.1.4`` or ``v1.7.28``; ValueError on anything else."""
        match = _CONTAINERD_RE.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not an exact containerd version like 2.1.4")
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
