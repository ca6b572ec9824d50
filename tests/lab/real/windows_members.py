"""Simulated Windows workers for the real cluster (``RealCluster``), on the real lab's bridge: ``win1`` and
``win2`` (Windows Server 2022) unless the caller names other machines (their builds and updates).

Each is a Windows lab host of ``tests/lab/test_windows_lab.py`` (``windows_lab_node``): a network namespace
with a veth on the systemd hosts' bridge at 10.231.S.201, .202, ... (so the Linux hosts route to it and its
pods directly, and it reaches the control plane's API server and the lab mirror), a WinRM HTTPS endpoint
inside that namespace in front of the simulated machine, and ``SimulatedHostAgents``: when hybridctl starts
the machine's kubelet or kube-proxy service, the real node agent (``tests/upstream/winagent``) runs in the
namespace with exactly the files hybridctl wrote on the machine. ``images`` lets its pods run a Linux
build of an image's program (``winnode_hook.py``): the fixture maps the lab registry's agnhost to the
agnhost binary.

The Windows release files hybridctl downloads (containerd, crictl, the CNI plugins, sdnbridge, nssm,
kubelet.exe, kube-proxy.exe: marker content, as in the simulated lab) are placed in the real lab's mirror
at the paths ``artifacts.source: mirror`` asks for, with upstream-style checksum files; the two that
upstream publishes no checksum for are pinned in the inventory (``checksums``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from hybridctl.artifacts import Catalog
from hybridctl.inventory.models import Cluster
from tests.lab.real import mirror as tarballs
from tests.lab.real.sources import LabSources, catalog
from tests.lab.real.winnode import SimulatedHostAgents, agent_binary
from tests.lab.test_windows_lab import ADAPTERS, windows_lab_node
from tests.lab.windows_sim.artifacts import _upstream, _version, artifact_bytes, pinned_checksums
from tests.lab.windows_sim.netns import WindowsLabHost
from tests.lab.windows_sim.testbed import WindowsNode
from tests.support.linux_hosts import _Addressing
from tests.support.winrm.machine import WindowsBuild
from tests.support.winrm.windows_kube import KubeSide
from tests.support.winrm_fixtures import TEST_OPERATION_TIMEOUT, TEST_READ_TIMEOUT, WinRMAccount, WinRMPki

PASSWORD_ENV = "HYBRIDCTL_LAB_WINRM_PASSWORD"
DEFAULT_MACHINES = (WindowsBuild("win1"), WindowsBuild("win2"))


def publish_windows(sources: LabSources, release: str, workdir: Path, mode: str = "routes") -> dict[str, str]:
    """Place every Windows release file of network ``mode`` in the mirror; return the checksum pins."""
    found = catalog(sources.mirror_url, release, workdir, mode)
    cluster: Cluster = found.cluster
    upstream = _upstream(cluster).windows_artifacts()
    for artifact, original in zip(Catalog(cluster).windows_artifacts(), upstream, strict=True):
        data = artifact_bytes(original.name, _version(original.url))
        tarballs.place(sources.mirror_root, sources.mirror_url, artifact, data)
    return pinned_checksums(cluster)


class WindowsMembers:
    """The Windows workers (see the module docstring); a context manager that removes all it made."""

    def __init__(
        self,
        addressing: _Addressing,
        workdir: Path,
        pki: WinRMPki,
        account: WinRMAccount,
        images: dict[str, str] | None = None,
        *,
        network: str = "cbr0",
        machines: Sequence[WindowsBuild] = DEFAULT_MACHINES,
    ) -> None:
        agent_binary()  # built (or found cached) before any service starts it
        self.account = account
        self.pki = pki
        self.agents = SimulatedHostAgents({}, workdir / "agents", images, network)
        self.hosts: dict[str, WindowsLabHost] = {}
        self.nodes: dict[str, WindowsNode] = {}
        self.builds = {machine.name: machine for machine in machines}
        with contextlib.ExitStack() as undo:
            undo.callback(self.close)
            kube = KubeSide(None, None, self.agents)
            for index, machine in enumerate(machines, start=1):
                host, node = windows_lab_node(
                    addressing.slot,
                    addressing.bridge,
                    index,
                    workdir=workdir,
                    pki=pki,
                    account=account,
                    kube=kube,
                    machine=machine,
                )
                self.hosts[node.name], self.nodes[node.name] = host, node
                self.agents.namespaces[node.name] = host.namespace
            undo.pop_all()

    def entries(self) -> list[dict[str, Any]]:
        """The inventory host entries (the password as ``${env:...}``; ``env()`` holds its value)."""
        return [
            {
                "name": name,
                "address": node.address,
                "role": "worker",
                "os": "windows",
                "windowsVersion": self.builds[name].year,
                "interface": ADAPTERS[index],
                "winrm": {
                    "user": self.account.user,
                    "password": f"${{env:{PASSWORD_ENV}}}",
                    "auth": "basic",
                    "caBundle": str(self.pki.ca_file),
                    "port": node.endpoint.port,
                    "operationTimeout": TEST_OPERATION_TIMEOUT,
                    "readTimeout": TEST_READ_TIMEOUT,
                },
            }
            for index, (name, node) in enumerate(self.nodes.items(), start=1)
        ]

    def env(self) -> dict[str, str]:
        """What the entries' ``${env:...}`` names."""
        return {PASSWORD_ENV: self.account.password}

    def pod_namespace(self, node: str, pod_ip: str) -> str:
        """The network namespace of the emulated pod with ``pod_ip`` on ``node``."""
        state = Path(self.agents.hosts[node].hook.state) / "pods"
        for path in state.glob("*.json"):
            record = json.loads(path.read_text())
            if record["ip"] == pod_ip:
                return str(record["netns"])
        raise AssertionError(f"no emulated pod with {pod_ip} on {node}")

    def close(self) -> None:
        """Stop the agents (and their pods) before the namespaces go, then the endpoints and namespaces."""
        self.agents.close()
        for host in self.hosts.values():
            host.destroy()
        self.hosts.clear()

    def __enter__(self) -> WindowsMembers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
