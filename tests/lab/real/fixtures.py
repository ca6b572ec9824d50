"""Pytest fixtures of the real lab (registered in ``tests/conftest.py``).

``lab_binaries`` (session): the upstream components, built from their Go modules (slow the first time on
a machine, then cached per pin). ``systemd_lab`` (session): the lab's bridge and client key.
``systemd_hosts`` (function): a factory, ``systemd_hosts(n) -> list[SystemdHost]``, booting Debian hosts
with systemd as PID 1; they are shut down and removed when the test ends, passed or not.
``lab_sources`` (session): the mirror and registry the hosts install from (``sources.py``).
``real_cluster`` (module): a control plane and a Linux worker, booted, with the inventory written but
nothing installed: the module runs ``hybridctl up`` itself, and may first add hosts (Windows nodes) with
``real_cluster.write_inventory(extra_hosts=[...])``. ``hybrid_cluster`` (module): that cluster with two
simulated Windows workers on the same bridge (``windows_members.py``) in its inventory, nothing installed;
``hybrid_vxlan_cluster`` (module) the same in vxlan mode.
``loopback_control_plane`` (module): a real control plane (etcd, API server, controller-manager,
scheduler) as processes on 127.0.0.1 (``control_plane.py``; hybridctl's default pod and service subnets),
stopped after the module. Outside CI these skip (with what to install) when root or a tool is missing; in
CI they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pytest

from hybridctl.inventory.models import KubernetesSpec
from tests.lab.real.artifacts import LabBinaries
from tests.lab.real.artifacts import lab_binaries as build_lab_binaries
from tests.lab.real.cluster import RealCluster
from tests.lab.real.control_plane import ControlPlane, control_plane_binaries
from tests.lab.real.hosts import REQUIRED_TOOLS, SystemdHost, SystemdHosts
from tests.lab.real.images import AGNHOST
from tests.lab.real.sources import LabSources
from tests.lab.real.sources import lab_sources as serve_lab_sources
from tests.lab.real.windows_members import DEFAULT_MACHINES, WindowsMembers, publish_windows
from tests.support.ci import require_root, require_tool
from tests.support.winrm.machine import WindowsBuild
from tests.support.winrm_fixtures import WinRMAccount, WinRMPki

SystemdHostFactory = Callable[[int], list[SystemdHost]]


def require_systemd_hosts() -> None:
    """Skip locally, fail in CI, unless this machine can boot systemd test hosts."""
    require_root("systemd-nspawn, network namespaces, cgroups and overlay mounts")
    for tool, hint in REQUIRED_TOOLS.items():
        require_tool(tool, hint)


@pytest.fixture(scope="session")
def systemd_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemdHosts]:
    """The session's lab of systemd hosts: a bridge in a free slot of 10.231.0.0/16 and a client key."""
    require_systemd_hosts()
    with SystemdHosts(tmp_path_factory.mktemp("systemd-hosts")) as lab:
        yield lab


@pytest.fixture
def systemd_hosts(systemd_lab: SystemdHosts) -> Iterator[SystemdHostFactory]:
    """A factory of freshly booted hosts, ``systemd_hosts(n)``; all are removed after the test."""
    created: list[SystemdHost] = []

    def make(count: int = 1) -> list[SystemdHost]:
        hosts = systemd_lab.add(count)
        created.extend(hosts)
        return hosts

    yield make
    systemd_lab.remove(created)


@pytest.fixture(scope="session")
def lab_binaries() -> LabBinaries:
    """Every upstream component the real lab uses, built from its pinned Go module (cached per pin)."""
    require_tool("go", "install Go 1.26 (/usr/local/go/bin) and reach the Go module proxy")
    return build_lab_binaries()


@pytest.fixture(scope="session")
def lab_sources(
    lab_binaries: LabBinaries, systemd_lab: SystemdHosts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabSources]:
    """The mirror (apt repository, release files) and the image registry, on the lab's gateway."""
    with serve_lab_sources(
        lab_binaries, systemd_lab.addressing.gateway, tmp_path_factory.mktemp("sources")
    ) as found:
        yield found


@pytest.fixture(scope="module")
def real_cluster(
    lab_binaries: LabBinaries,
    lab_sources: LabSources,
    systemd_lab: SystemdHosts,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RealCluster]:
    """A control plane and a Linux worker, booted, inventory written; removed after the module."""
    control_plane, worker = hosts = systemd_lab.add(2)
    try:
        members = [(control_plane, "control-plane"), (worker, "worker")]
        kubectl = lab_binaries.kubernetes / "kubectl"
        cluster = RealCluster(tmp_path_factory.mktemp("real-cluster"), members, lab_sources, kubectl)
        cluster.write_inventory()
        yield cluster
    finally:
        systemd_lab.remove(hosts)


@contextmanager
def with_windows(
    cluster: RealCluster,
    binaries: LabBinaries,
    lab: SystemdHosts,
    pki: WinRMPki,
    account: WinRMAccount,
    *,
    mode: str,
    machines: Sequence[WindowsBuild] = DEFAULT_MACHINES,
) -> Iterator[tuple[RealCluster, WindowsMembers]]:
    """``cluster`` in network ``mode`` plus simulated Windows workers (``machines``: by default win1 and
    win2) in its inventory, whose emulated pods run agnhost for the lab registry's agnhost image; all
    removed afterwards."""
    workdir = cluster.workdir / "windows"
    workdir.mkdir()
    cluster.network_mode = mode
    program = str(binaries.agnhost / "agnhost")
    tagged = f"{cluster.sources.registry}/{AGNHOST[0]}:{AGNHOST[1]}"
    agnhost = {tagged: program, cluster.sources.agnhost: program}  # the tests' pods; the smoke pods
    network = "flannel.4096" if mode == "vxlan" else "cbr0"
    members = WindowsMembers(
        lab.addressing, workdir, pki, account, agnhost, network=network, machines=machines
    )
    with members as windows:
        cluster.checksums = publish_windows(cluster.sources, binaries.release, workdir, mode)
        cluster.extra_env = windows.env()
        cluster.write_inventory(extra_hosts=windows.entries())
        yield cluster, windows


@pytest.fixture(scope="module")
def hybrid_cluster(
    real_cluster: RealCluster,
    lab_binaries: LabBinaries,
    systemd_lab: SystemdHosts,
    winrm_pki: WinRMPki,
    winrm_account: WinRMAccount,
) -> Iterator[tuple[RealCluster, WindowsMembers]]:
    """``real_cluster`` plus two simulated Windows workers (routes mode); all removed after the module."""
    with with_windows(
        real_cluster, lab_binaries, systemd_lab, winrm_pki, winrm_account, mode="routes"
    ) as built:
        yield built


@pytest.fixture(scope="module")
def hybrid_vxlan_cluster(
    real_cluster: RealCluster,
    lab_binaries: LabBinaries,
    systemd_lab: SystemdHosts,
    winrm_pki: WinRMPki,
    winrm_account: WinRMAccount,
) -> Iterator[tuple[RealCluster, WindowsMembers]]:
    """``hybrid_cluster`` in vxlan mode: flannel's images through the ghcr.io mirror, the Windows flannel
    artifacts in the mirror, and Windows pods on the overlay network ``flannel.4096`` that the hosts'
    flanneld stand-in (tests/lab/real/winflannel.py) builds."""
    with with_windows(
        real_cluster, lab_binaries, systemd_lab, winrm_pki, winrm_account, mode="vxlan"
    ) as built:
        yield built


@pytest.fixture(scope="module")
def loopback_control_plane() -> Iterator[ControlPlane]:
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1 with kubeadm's
    certificates and bootstrap RBAC, for one test module (processes stopped, directory removed after)."""
    require_tool("go", "install Go 1.26 (/usr/local/go/bin) and reach the Go module proxy")
    spec = KubernetesSpec()
    with ControlPlane(
        control_plane_binaries(), pod_subnet=spec.pod_subnet, service_subnet=spec.service_subnet
    ) as cp:
        yield cp
