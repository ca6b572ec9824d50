"""The real lab's upstream binaries, built once per pin (``tests/upstream/build.py``), by component name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.upstream.build import DEFAULT_KUBERNETES, agnhost, components, ensure, kubernetes

CACHE = Path(__file__).resolve().parent / ".cache"


@dataclass(frozen=True)
class LabBinaries:
    """Directories of the built binaries."""

    release: str
    kubernetes: Path
    etcd: Path
    coredns: Path
    containerd: Path
    cni: Path
    crane: Path
    pause: Path
    echo: Path
    agnhost: Path
    runc: Path
    crictl: Path
    flannel: Path  # flanneld and install-conf (vxlan mode)
    flannel_cni: Path  # the flannel CNI plugin, named flannel

    @property
    def kubernetes_stamp(self) -> str:
        """The Kubernetes build's stamp (keys caches of what is made from it)."""
        return (self.kubernetes / ".stamp").read_text()[:12]


def lab_binaries(release: str = DEFAULT_KUBERNETES) -> LabBinaries:
    """Build (or find) every component the real lab uses."""
    built = {name: ensure(build) for name, build in components().items()}
    return LabBinaries(
        release,
        ensure(kubernetes(release)),
        built["etcd"],
        built["coredns"],
        built["containerd"],
        built["cni-plugins"],
        built["crane"],
        built["pause"],
        built["echo"],
        ensure(agnhost()),
        built["runc"],
        built["crictl"],
        built["flannel"],
        built["flannel-cni-plugin"],
    )
