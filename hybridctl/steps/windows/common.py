"""What the Windows steps share: the platform, the paths hybridctl uses, rendering with the cluster CA."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hybridctl.inventory.models import Cluster, Host
from hybridctl.platforms.windows import WindowsPlatform
from hybridctl.render import RenderedFile, RuntimeValues, render_host
from hybridctl.steps.base import Step, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostView
from hybridctl.steps.kube import CA_CERT, control_plane_view
from hybridctl.steps.values import JOIN, runtime_values

PLATFORM = WindowsPlatform()

K_DIR = "C:\\k"
STATE_DIR = "C:\\k\\hybridctl"
RECORD = "C:\\k\\hybridctl\\artifacts.json"
DOWNLOADS = "C:\\k\\hybridctl\\downloads"
CONTAINERD_DIR = "C:\\Program Files\\containerd"
CONTAINERD_EXE = "C:\\Program Files\\containerd\\containerd.exe"
CONTAINERD_DATA = "C:\\ProgramData\\containerd"
CONTAINERD_PIPE = "\\\\.\\pipe\\containerd-containerd"
CRICTL_EXE = "C:\\Program Files\\containerd\\crictl.exe"
CRI_ENDPOINT = "npipe:////./pipe/containerd-containerd"
"""What the kubelet is pointed at (templates/windows/kubelet/config.yaml.j2), and crictl at teardown."""
NSSM_DIR = "C:\\Program Files\\nssm"
NSSM_EXE = "C:\\Program Files\\nssm\\nssm.exe"
CNI_BIN = "C:\\opt\\cni\\bin"
KUBELET_CONF = "C:\\etc\\kubernetes\\kubelet.conf"
BOOTSTRAP_CONF = "C:\\etc\\kubernetes\\bootstrap-kubelet.conf"
KUBELET_PKI = "C:\\var\\lib\\kubelet\\pki"
BOOT_SCRIPT = "C:\\k\\hybridctl\\boot.ps1"
BOOT_TASK = "hybridctl-boot"
FIREWALL_PREFIX = "hybridctl-"
NETWORK_NAME = "cbr0"
"""routes mode's L2Bridge network; vxlan mode's overlay network is ``render.context.FLANNEL_NETWORK``."""
HOST_ENDPOINT = "cbr0_ep"
KUBE_PROXY_HEALTH = "http://127.0.0.1:10256/healthz"

DIRECTORIES = (
    K_DIR,
    STATE_DIR,
    DOWNLOADS,
    "C:\\var\\lib\\kubelet",
    KUBELET_PKI,
    "C:\\var\\log\\kubelet",
    "C:\\var\\log\\kube-proxy",
    "C:\\var\\log\\hybridctl",
    "C:\\etc\\kubernetes",
    "C:\\etc\\kubernetes\\pki",
    "C:\\etc\\cni\\net.d",
    CNI_BIN,
    "C:\\var\\lib\\cni",
    CONTAINERD_DIR,
    NSSM_DIR,
)
"""The directories of the reference's section 2.5 that hybridctl uses in both network modes."""
VXLAN_DIRECTORIES = ("C:\\etc\\kube-flannel", "C:\\var\\log\\flanneld")
"""What vxlan mode adds: flanneld's net-conf.json and its logs (flanneld creates C:\\run\\flannel itself)."""

OWNED_DIRECTORIES = (
    K_DIR,
    "C:\\var\\lib\\kubelet",
    "C:\\var\\log\\kubelet",
    "C:\\var\\log\\kube-proxy",
    "C:\\var\\log\\hybridctl",
    "C:\\etc\\kubernetes",
    "C:\\etc\\cni",
    "C:\\opt\\cni",
    "C:\\var\\lib\\cni",
    CONTAINERD_DIR,
    CONTAINERD_DATA,
    NSSM_DIR,
    *VXLAN_DIRECTORIES,
    "C:\\run\\flannel",
)
"""What teardown deletes (section 8.1 step 9): hybridctl's trees, never ``C:\\var`` or ``C:\\etc`` whole."""


class WindowsStep(Step):
    """A step that runs on Windows hosts only."""

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Windows hosts."""
        return host.is_windows


def directories(cluster: Cluster) -> tuple[str, ...]:
    """The directories a Windows node of ``cluster`` needs."""
    return DIRECTORIES + (VXLAN_DIRECTORIES if cluster.spec.network.mode == "vxlan" else ())


def route_interface(host: Host) -> str:
    """The vSwitch adapter that carries node traffic once the L2Bridge network exists."""
    return f"vEthernet ({host.adapter})"


def cluster_ca(ctx: StepContext) -> str | None:
    """The cluster CA (PEM): from this run's join credentials, else read on the first control plane."""
    join: Any = ctx.state.get(JOIN)
    if join is not None:
        return str(join.ca_certificate)
    data = control_plane_view(ctx).get(CA_CERT)
    return data.decode() if data is not None else None


def host_files(ctx: StepContext, host: Host, purposes: Iterable[str]) -> list[RenderedFile]:
    """The files of ``host`` with the given purposes, rendered with the run's values and the cluster CA."""
    values: RuntimeValues = runtime_values(ctx)
    if values.ca_certificate is None:
        values = dataclasses.replace(values, ca_certificate=cluster_ca(ctx))
    wanted = set(purposes)
    return [f for f in render_host(ctx.members, host, values) if f.purpose in wanted]


def one_file(files: Sequence[RenderedFile], purpose: str) -> RenderedFile:
    """The rendered file with ``purpose``."""
    for item in files:
        if item.purpose == purpose:
            return item
    raise StepError(f"no rendered file has purpose {purpose!r}")


def targets(files: Sequence[RenderedFile]) -> list[str]:
    """Where the files go."""
    return [f.target for f in files if f.target]


class KnownHashes:
    """A Platform stand-in whose ``file_hashes`` answers from a ``win/state`` reply already read."""

    name = "windows"

    def __init__(self, hashes: Mapping[str, str | None]) -> None:
        self._hashes = dict(hashes)

    def file_hashes(self, host: HostView, paths: Sequence[str]) -> dict[str, str | None]:
        """The hashes read earlier."""
        return {path: self._hashes.get(path) for path in paths}

    def __getattr__(self, name: str) -> Any:
        return getattr(PLATFORM, name)


def in_pod_subnet(cluster: Cluster, prefix: str) -> bool:
    """Whether ``prefix`` lies inside the cluster's pod CIDR."""
    try:
        network = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False
    pods = ipaddress.ip_network(cluster.spec.kubernetes.pod_subnet)
    return network.version == pods.version and network.subnet_of(pods)  # type: ignore[arg-type]
