"""The Windows worker's steps, grouped into the phases the verbs compose.

Each step runs on Windows hosts only, with a read-only ``check`` (one ``win/state`` or ``win/preflight``
round trip) separate from its ``apply``. Phases, in order: PREPARE (host prerequisites and binaries),
JOIN (kubelet TLS bootstrap), NETWORK (routes mode: L2Bridge network and routes; vxlan mode: flanneld and its
overlay network), FINISH (vxlan: the source VIP; kube-proxy, boot task);
TEARDOWN for ``down``.
"""

from __future__ import annotations

from hybridctl.steps.base import Step
from hybridctl.steps.windows.windows_boot_task import WindowsBootTask
from hybridctl.steps.windows.windows_cni_plugins import WindowsCniPlugins
from hybridctl.steps.windows.windows_containerd import WindowsContainerd
from hybridctl.steps.windows.windows_containerd_config import WindowsContainerdConfig
from hybridctl.steps.windows.windows_containerd_service import WindowsContainerdService
from hybridctl.steps.windows.windows_credential_acls import WindowsCredentialAcls
from hybridctl.steps.windows.windows_directories import WindowsDirectories
from hybridctl.steps.windows.windows_features import WindowsFeatures
from hybridctl.steps.windows.windows_firewall import WindowsFirewall
from hybridctl.steps.windows.windows_flannel import WindowsFlannel
from hybridctl.steps.windows.windows_kube_binaries import WindowsKubeBinaries
from hybridctl.steps.windows.windows_kube_proxy import WindowsKubeProxy
from hybridctl.steps.windows.windows_kubelet import WindowsKubelet
from hybridctl.steps.windows.windows_pod_network import WindowsPodNetwork
from hybridctl.steps.windows.windows_preflight import WindowsPreflight
from hybridctl.steps.windows.windows_reset import WindowsReset
from hybridctl.steps.windows.windows_smoke_image import WindowsSmokeImage
from hybridctl.steps.windows.windows_source_vip import WindowsSourceVip

PREPARE: list[Step] = [
    WindowsPreflight(),
    WindowsFeatures(),
    WindowsDirectories(),
    WindowsCredentialAcls(),
    WindowsFirewall(),
    WindowsContainerd(),
    WindowsContainerdConfig(),
    WindowsContainerdService(),
    WindowsSmokeImage(),
    WindowsCniPlugins(),
    WindowsKubeBinaries(),
]
JOIN: list[Step] = [WindowsKubelet()]
NETWORK: list[Step] = [WindowsPodNetwork(), WindowsFlannel()]
FINISH: list[Step] = [WindowsSourceVip(), WindowsKubeProxy(), WindowsBootTask()]
TEARDOWN: list[Step] = [WindowsReset()]


def teardown(purge: bool = False) -> list[Step]:
    """The ``down`` phase; ``purge`` also removes the Windows features (with a restart)."""
    return [WindowsReset(purge=purge)]


__all__ = [
    "FINISH",
    "JOIN",
    "NETWORK",
    "PREPARE",
    "TEARDOWN",
    "WindowsBootTask",
    "WindowsCniPlugins",
    "WindowsContainerd",
    "WindowsContainerdConfig",
    "WindowsContainerdService",
    "WindowsCredentialAcls",
    "WindowsDirectories",
    "WindowsFeatures",
    "WindowsFirewall",
    "WindowsFlannel",
    "WindowsKubeBinaries",
    "WindowsKubeProxy",
    "WindowsKubelet",
    "WindowsPodNetwork",
    "WindowsPreflight",
    "WindowsReset",
    "WindowsSourceVip",
    "teardown",
]
