"""Linux node steps, one per module, and the phases the verbs compose them into.

* ``PREPARE``: every Linux host, in parallel; the runtime before any kubeadm command. containerd's config
  comes before containerd itself so a fresh host starts containerd once, already configured.
* ``BOOTSTRAP``: ``kubeadm init`` on the first control plane, then ``kubeadm join`` elsewhere.
* ``NETWORK``: the routes-mode pod network, once every node's pod CIDR is known.
* ``TEARDOWN``: ``linux-reset`` for ``down`` (keeps the runtime; ``LinuxReset(purge=True)`` removes it).
"""

from __future__ import annotations

from hybridctl.steps.base import Step
from hybridctl.steps.linux.cni_plugins import CniPlugins
from hybridctl.steps.linux.containerd import Containerd
from hybridctl.steps.linux.containerd_config import ContainerdConfig
from hybridctl.steps.linux.kernel_modules import KernelModules
from hybridctl.steps.linux.kube_packages import KubePackages
from hybridctl.steps.linux.kubeadm_init import KubeadmInit
from hybridctl.steps.linux.kubeadm_join import KubeadmJoin
from hybridctl.steps.linux.linux_pod_network import LinuxPodNetwork
from hybridctl.steps.linux.linux_preflight import LinuxPreflight
from hybridctl.steps.linux.linux_reset import LinuxReset
from hybridctl.steps.linux.smoke_image import SmokeImage
from hybridctl.steps.linux.swap import Swap
from hybridctl.steps.linux.sysctl import Sysctl

PREPARE: list[Step] = [
    LinuxPreflight(),
    KernelModules(),
    Sysctl(),
    Swap(),
    ContainerdConfig(),
    Containerd(),
    SmokeImage(),
    CniPlugins(),
    KubePackages(),
]
BOOTSTRAP: list[Step] = [KubeadmInit(), KubeadmJoin()]
NETWORK: list[Step] = [LinuxPodNetwork()]
TEARDOWN: list[Step] = [LinuxReset()]


def teardown(purge: bool = False) -> list[Step]:
    """The teardown phase; ``purge`` also removes packages, binaries and the repository."""
    return [LinuxReset(purge=purge)]


__all__ = [
    "BOOTSTRAP",
    "NETWORK",
    "PREPARE",
    "TEARDOWN",
    "CniPlugins",
    "Containerd",
    "ContainerdConfig",
    "KernelModules",
    "KubePackages",
    "KubeadmInit",
    "KubeadmJoin",
    "LinuxPodNetwork",
    "LinuxPreflight",
    "LinuxReset",
    "Swap",
    "Sysctl",
    "teardown",
]
