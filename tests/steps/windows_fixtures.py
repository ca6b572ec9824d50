"""Fixtures of the Windows step tests: two simulated Windows hosts on loopback addresses, a testbed.

Tier: winrm contract. Real: pypsrp, HTTPS with a test CA, Basic auth, the WinRM protocol, the Runner,
HTTP downloads from a loopback mirror, the upstream validators that the simulated agents must satisfy
before they start. Simulated: the Windows hosts, the control plane.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.lab.windows_sim.testbed import Testbed, WindowsNode
from tests.support.upstream import default_judge
from tests.support.winrm import (
    Accounts,
    EndpointConfig,
    SimulatedWindowsHost,
    WinRMEndpoint,
    register_builtin,
)
from tests.support.winrm.machine import WindowsBuild
from tests.support.winrm.windows_boot import boot_with_tasks
from tests.support.winrm.windows_handlers import WindowsScripts, register_windows
from tests.support.winrm.windows_kube import KubeSide
from tests.support.winrm_fixtures import WinRMAccount, WinRMPki, winrm_settings

ADDRESSES = {"win1": "127.0.0.11", "win2": "127.0.0.12"}


def machine_snapshot(host: SimulatedWindowsHost) -> dict[str, Any]:
    """Everything of the machine model a check must not change."""
    m = host.machine
    with m.lock:
        return copy.deepcopy(
            {
                "files": {k: bytes(v) for k, v in m.files.items()},
                "directories": set(m.directories),
                "services": {k: vars(v) for k, v in m.services.items()},
                "features": dict(m.feature_states),
                "firewall": m.firewall_rules,
                "hns": (m.hns_networks, m.hns_endpoints),
                "acls": m.acls,
                "routes": m.routes,
                "tasks": m.scheduled_tasks,
                "path": m.machine_path,
                "boot": m.boot_time,
            }
        )


def start_node(
    name: str,
    address: str,
    pki: WinRMPki,
    account: WinRMAccount,
    *,
    workdir: Path,
    scripts: WindowsScripts,
    build: str = "10.0.20348",
    hotfixes: frozenset[str] = frozenset(),
) -> WindowsNode:
    """A simulated Windows host ``name`` (OS ``build``, installed ``hotfixes``) behind an HTTPS endpoint on
    ``address``."""
    host = SimulatedWindowsHost(WindowsBuild(name, build, hotfixes).machine("Ethernet", address))
    register_builtin(host.scripts)
    register_windows(host.scripts, scripts)
    boot_with_tasks(host, scripts)
    cert, key = pki.ca.issue_server(address).write(workdir, f"server-{name}")
    config = EndpointConfig(
        accounts=Accounts({account.user: account.password}),
        cert_file=cert,
        key_file=key,
        address=address,
        restart_down_seconds=0.5,
    )
    return WindowsNode(name, address, host, WinRMEndpoint(host, config).start())


@contextmanager
def started_testbed(
    workdir: Path,
    pki: WinRMPki,
    account: WinRMAccount,
    mode: str,
    hosts: dict[str, tuple[str, str, frozenset[str]]] | None = None,
) -> Iterator[Testbed]:
    """Windows hosts (``hosts``: name -> address, build, hotfixes; default win1 and win2 on build 20348)
    and a fake first control plane in network ``mode``; everything stopped afterwards."""
    chosen = hosts or {name: (address, "10.0.20348", frozenset()) for name, address in ADDRESSES.items()}
    nodes: list[WindowsNode] = []
    bed = None
    try:
        scripts = WindowsScripts()
        for name, (address, build, hotfixes) in chosen.items():
            node = start_node(
                name, address, pki, account, workdir=workdir, scripts=scripts, build=build, hotfixes=hotfixes
            )
            nodes.append(node)
        bed = Testbed(workdir, nodes, winrm_settings(pki, account), mode=mode)
        scripts.kube = KubeSide(bed.model, default_judge())
        yield bed
    finally:
        if bed is not None:
            bed.close()
        for node in nodes:
            node.endpoint.stop()


@pytest.fixture
def testbed(tmp_path: Path, winrm_pki: WinRMPki, winrm_account: WinRMAccount) -> Iterator[Testbed]:
    """Two Windows hosts (win1, win2) and a fake first control plane, routes mode."""
    with started_testbed(tmp_path, winrm_pki, winrm_account, "routes") as bed:
        yield bed


@pytest.fixture
def vxlan_testbed(tmp_path: Path, winrm_pki: WinRMPki, winrm_account: WinRMAccount) -> Iterator[Testbed]:
    """The same in vxlan mode (flanneld's overlay instead of the L2Bridge network and routes)."""
    with started_testbed(tmp_path, winrm_pki, winrm_account, "vxlan") as bed:
        yield bed
