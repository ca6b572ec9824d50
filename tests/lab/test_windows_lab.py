"""Windows workers end to end in the lab: simulated Windows hosts in network namespaces on the bridge of
the Linux test hosts, reached by hybridctl over the bridge at their inventory addresses.

Tier: lab (root). Real: the Runner and the Windows steps, pypsrp over HTTPS with a lab CA to an endpoint
listening inside each host's namespace, downloads over the bridge from the lab mirror with sha256 checks,
the reboot's real listener down/up cycle, and Linux kernel bridges and routes standing in for HNS: the
pod network's routes are kernel routes in the namespaces and carry TCP between the nodes' bridges.
Simulated: the Windows OS and agents, the control plane (ClusterModel behind a fake transport; the API
endpoint is a TCP listener on the bridge).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridctl.events import Outcome
from hybridctl.steps.windows import FINISH, JOIN, NETWORK, PREPARE, WindowsPodNetwork, teardown
from tests.lab.windows_sim.netns import WindowsLabHost, in_namespace, ip
from tests.lab.windows_sim.testbed import Testbed, WindowsNode
from tests.support.linux_hosts import LinuxTestHosts
from tests.support.upstream import default_judge
from tests.support.winrm import (
    Accounts,
    EndpointConfig,
    SimulatedWindowsHost,
    register_builtin,
)
from tests.support.winrm.machine import WindowsBuild
from tests.support.winrm.windows_boot import boot_with_tasks
from tests.support.winrm.windows_handlers import WindowsScripts, register_windows
from tests.support.winrm.windows_kube import KubeSide
from tests.support.winrm_fixtures import WinRMAccount, WinRMPki, winrm_settings

pytestmark = [pytest.mark.root, pytest.mark.lab, pytest.mark.slow]
ALL = [*PREPARE, *JOIN, *NETWORK, *FINISH]
ADAPTERS = {1: "Ethernet0", 2: "Ethernet 2", 3: "Ethernet"}
FIRST_INDEX = 200  # Linux test hosts count up from .2; the Windows hosts take .201 and .202


def windows_lab_node(
    slot: int,
    bridge: str,
    index: int,
    *,
    workdir: Path,
    pki: WinRMPki,
    account: WinRMAccount,
    kube: KubeSide,
    machine: WindowsBuild | None = None,
) -> tuple[WindowsLabHost, WindowsNode]:
    """Windows lab host ``win<index>`` (or ``machine``'s name, OS build and hotfixes) at
    10.231.<slot>.(200+index) on ``bridge`` (the gateway is .1): its namespace, the simulated machine with
    hybridctl's scripts and ``kube``, and its HTTPS endpoint. The caller destroys the host (which stops the
    endpoint)."""
    build = machine or WindowsBuild(f"win{index}")
    name, address, gateway = build.name, f"10.231.{slot}.{FIRST_INDEX + index}", f"10.231.{slot}.1"
    host = WindowsLabHost(
        name, address, bridge, gateway, namespace=f"hcw{slot}-{index}", veth=f"hcw{slot}v{index}"
    )
    host.create()
    try:
        # VMware guests name the NIC 'Ethernet0', Hyper-V/Azure guests often 'Ethernet 2' (microsoft/SDN#300).
        adapter = ADAPTERS[index]
        simulated = SimulatedWindowsHost(build.machine(adapter, address))
        register_builtin(simulated.scripts)
        scripts = WindowsScripts(kube, host.realiser, api_probe=host.connect_tcp)
        register_windows(simulated.scripts, scripts)
        boot_with_tasks(simulated, scripts)
        cert, key = pki.ca.issue_server(address).write(workdir, f"lab-{name}")
        config = EndpointConfig(
            accounts=Accounts({account.user: account.password}),
            cert_file=cert,
            key_file=key,
            restart_down_seconds=0.5,
        )
        return host, WindowsNode(name, address, simulated, host.serve(simulated, config))
    except BaseException:
        host.destroy()
        raise


def _failures(report) -> str:  # type: ignore[no-untyped-def]
    bad = (Outcome.FAILED, Outcome.UNREACHABLE, Outcome.SKIPPED)
    return "\n".join(f"{r.host}/{r.step}: {r.error}" for r in report.results if r.outcome in bad)


class WindowsLab:
    """Two Windows lab hosts, the API stand-in and the testbed; closes everything it opened."""

    def __init__(
        self,
        lab: LinuxTestHosts,
        workdir: Path,
        pki: WinRMPki,
        account: WinRMAccount,
        kube: KubeSide | None = None,
    ) -> None:
        self.gateway = f"10.231.{lab.slot}.1"
        self.hosts: dict[str, WindowsLabHost] = {}
        self.api: socket.socket | None = None
        self.bed: Testbed | None = None
        kube = kube or KubeSide(None, default_judge())
        self.scripts: list[WindowsScripts] = []
        nodes = [
            self._node(lab, index=i, workdir=workdir, pki=pki, account=account, kube=kube) for i in (1, 2)
        ]
        winrm = winrm_settings(pki, account)
        self.bed = Testbed(workdir, nodes, winrm, mirror_address=self.gateway, cp_address=self.gateway)
        kube.cluster = self.bed.model

    def _node(
        self,
        lab: LinuxTestHosts,
        *,
        index: int,
        workdir: Path,
        pki: WinRMPki,
        account: WinRMAccount,
        kube: KubeSide,
    ) -> WindowsNode:
        host, node = windows_lab_node(
            lab.slot, lab.bridge, index, workdir=workdir, pki=pki, account=account, kube=kube
        )
        self.hosts[node.name] = host
        return node

    def open_api(self) -> None:
        """The API endpoint's TCP port answers (kubeadm init ran)."""
        self.api = socket.create_server((self.gateway, 6443))

    def close(self) -> None:
        """Stop the mirror, the endpoints and the API listener; delete the namespaces and veths."""
        if self.bed is not None:
            self.bed.close()
        for host in self.hosts.values():
            host.destroy()
        if self.api is not None:
            self.api.close()


@pytest.fixture
def windows_lab(
    linux_lab: LinuxTestHosts, tmp_path: Path, winrm_pki: WinRMPki, winrm_account: WinRMAccount
) -> Iterator[WindowsLab]:
    """Two Windows lab hosts on the session's lab bridge, removed after the test."""
    lab = None
    try:
        lab = WindowsLab(linux_lab, tmp_path, winrm_pki, winrm_account)
        lab.open_api()
        yield lab
    finally:
        if lab is not None:
            lab.close()


def test_windows_nodes_join_with_real_routes_between_their_bridges(windows_lab: WindowsLab) -> None:
    bed = windows_lab.bed
    assert bed is not None
    report, events = bed.run(bed.steps(ALL))
    assert not _failures(report), _failures(report)
    assert {e["phase"] for e in events.of("reboot")} == {"scheduled", "down", "up"}

    cidrs = {name: node["podCIDR"] for name, node in bed.model.nodes().items()}
    win1, win2 = windows_lab.hosts["win1"], windows_lab.hosts["win2"]
    assert win1.realiser.kernel_routes() == {
        (cidrs["cp1"], windows_lab.gateway),
        (cidrs["win2"], win2.address),
    }
    assert "cbr0" in ip("-o", "link", "show", "type", "bridge", namespace=win2.namespace)

    # TCP from win1 to an address on win2's bridge (its host endpoint) crosses the kernel routes.
    endpoint_ip = bed.nodes["win2"].host.machine.hns_endpoints["cbr0_ep"]["ipAddress"]
    server = win2.listen(endpoint_ip)
    try:
        assert win1.connect_tcp(endpoint_ip, server.getsockname()[1]) == "connected"
    finally:
        server.close()

    again, _ = bed.run(bed.steps(ALL))
    assert [(r.host, r.step, r.changes) for r in again.results if r.changes] == []


def test_pod_network_removes_a_stale_kernel_route_and_restores_a_deleted_one(windows_lab: WindowsLab) -> None:
    bed = windows_lab.bed
    assert bed is not None
    report, _ = bed.run(bed.steps(ALL))
    assert not _failures(report), _failures(report)
    win1, machine = windows_lab.hosts["win1"], bed.nodes["win1"].host.machine
    cidr_win2 = bed.model.nodes()["win2"]["podCIDR"]
    stale = ("10.244.250.0/24", windows_lab.hosts["win2"].address)
    for store in ("ActiveStore", "PersistentStore"):
        machine.routes.append(
            {
                "destinationPrefix": stale[0],
                "nextHop": stale[1],
                "routeMetric": 300,
                "interfaceAlias": "vEthernet (Ethernet0)",
                "store": store,
            }
        )
    win1.realiser.add_route(*stale)
    deleted = next(
        r for r in machine.routes if r["destinationPrefix"] == cidr_win2 and r["store"] == "ActiveStore"
    )
    machine.routes.remove(deleted)
    win1.realiser.remove_route(cidr_win2, deleted["nextHop"])
    assert stale in win1.realiser.kernel_routes()

    fixed, _ = bed.run(bed.steps([WindowsPodNetwork()]), hosts=["win1"])
    assert not _failures(fixed), _failures(fixed)
    routes = win1.realiser.kernel_routes()
    assert stale not in routes and (cidr_win2, deleted["nextHop"]) in routes

    down, _ = bed.run(teardown(False), hosts=["win1"])
    assert not _failures(down), _failures(down)
    assert win1.realiser.kernel_routes() == set()
    assert "cbr0" not in ip("-o", "link", "show", namespace=win1.namespace)
    assert in_namespace(win1.namespace, lambda: True)
