"""A cluster for Windows step tests: a fake first control plane, simulated Windows hosts behind WinRM
endpoints, a mirror of the Windows artifacts, and a Runner wired to them.

Real: the Runner, the steps, WinRMTransport/pypsrp, HTTP(S)/TLS, the WinRM protocol, HTTP downloads.
Simulated: the Windows hosts, the control plane (``ClusterModel`` via ``FakeControlPlane``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridctl.connections import ConnectionPool
from hybridctl.events import Event
from hybridctl.inventory.models import Cluster, Host
from hybridctl.masking import Masker
from hybridctl.runner import Runner, RunnerOptions, RunReport
from hybridctl.steps.base import Step
from hybridctl.steps.context import RunState, StepContext
from hybridctl.testing import FakeTransport
from hybridctl.transport.base import Transport
from hybridctl.transport.winrm import WinRMTransport
from tests.lab.artifacts import ArtifactServer
from tests.lab.cluster_model import ClusterModel
from tests.lab.windows_sim.artifacts import build_windows_artifacts, pinned_checksums
from tests.lab.windows_sim.control_plane import FakeControlPlane, FlannelManifest, KubeadmInit, PodCidrs
from tests.support.inventory import kubernetes_spec
from tests.support.winrm import SimulatedWindowsHost, WinRMEndpoint
from tests.support.winrm_fixtures import RecordingLog

TEST_OPTIONS = {"reboot_poll_interval": 0.2, "node_register_timeout": 20.0}


@dataclass
class WindowsNode:
    """One simulated Windows host, its endpoint, and its inventory entry's settings."""

    name: str
    address: str
    host: SimulatedWindowsHost
    endpoint: WinRMEndpoint


@dataclass
class EventLog:
    """An EventSink keeping every event."""

    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        """Keep it."""
        self.events.append(event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The data of every event of ``kind``."""
        return [e.data for e in self.events if e.kind == kind]


def _interface(node: WindowsNode) -> dict[str, str]:
    """The inventory's ``interface`` for a host whose adapter is not the default ``Ethernet``."""
    adapter = next(iter(node.host.machine.adapters), "Ethernet")
    return {} if adapter == "Ethernet" else {"interface": adapter}


def inventory(
    nodes: Sequence[WindowsNode],
    winrm: dict[str, Any],
    mirror: str,
    pins: dict[str, str],
    cp_address: str = "10.231.250.10",
    *,
    mode: str = "routes",
) -> Cluster:
    """An inventory (network ``mode``): cp1 (fake) plus the Windows nodes, artifacts from ``mirror``."""
    hosts: list[dict[str, Any]] = [
        {"name": "cp1", "address": cp_address, "role": "control-plane", "os": "linux"}
    ]
    for node in nodes:
        hosts.append(
            {
                "name": node.name,
                "address": node.address,
                "role": "worker",
                "os": "windows",
                "windowsVersion": 2022,
                "winrm": {**winrm, "port": node.endpoint.port},
                **_interface(node),
            }
        )
    document = {
        "apiVersion": "hybridctl.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": "wintest"},
        "spec": {
            "kubernetes": kubernetes_spec(),
            "network": {"mode": mode},
            "artifacts": {"source": "mirror", "mirrorUrl": mirror, "checksums": pins},
            "hosts": hosts,
        },
    }
    return Cluster.model_validate(document)


class Testbed:
    """Runs step lists against the control plane and the Windows nodes; one RunState per ``run``."""

    __test__ = False

    def __init__(
        self,
        workdir: Path,
        nodes: Sequence[WindowsNode],
        winrm: dict[str, Any],
        mirror_address: str = "127.0.0.1",
        cp_address: str = "10.231.250.10",
        *,
        mode: str = "routes",
    ) -> None:
        self.nodes = {n.name: n for n in nodes}
        self.model = ClusterModel(workdir / "cluster.json")
        self.control_plane = FakeControlPlane(self.model)
        self.mirror = ArtifactServer(workdir / "mirror", mirror_address).start()
        draft = inventory(nodes, winrm, self.mirror.url, {}, cp_address, mode=mode)
        build_windows_artifacts(self.mirror, draft)
        pins = pinned_checksums(draft)
        self.cluster = inventory(nodes, winrm, self.mirror.url, pins, cp_address, mode=mode)
        self.masker = Masker()
        self.log = RecordingLog()
        self.transports: dict[str, Transport] = {}

    def close(self) -> None:
        """Stop the mirror (endpoints belong to their fixtures)."""
        self.mirror.stop()

    def host(self, name: str) -> Host:
        """An inventory host."""
        return self.cluster.host(name)

    def _factory(self, host: Host) -> Transport:
        if host.is_windows:
            transport: Transport = WinRMTransport.connect(host, masker=self.masker, log=self.log)
        else:
            transport = FakeTransport(self.control_plane.fake)
        self.transports[host.name] = transport
        return transport

    def steps(self, windows: Sequence[Step], *, with_cluster: bool = True) -> list[Step]:
        """The Windows steps with the control-plane stand-ins they require around them."""
        if not with_cluster:
            return list(windows)
        names = [s.name for s in windows]
        network_at = next((i for i, n in enumerate(names) if n == "windows-pod-network"), len(names))
        ordered = list(windows)
        ordered.insert(network_at, PodCidrs())
        return [KubeadmInit(self.control_plane), FlannelManifest(self.control_plane), *ordered]

    def run(
        self,
        steps: Sequence[Step],
        *,
        read_only: bool = False,
        hosts: Sequence[str] | None = None,
        retries: int = 2,
    ) -> tuple[RunReport, EventLog]:
        """Run ``steps`` through the real Runner; returns the report and the events."""
        log = EventLog()
        pool = ConnectionPool(self._factory)
        ctx = StepContext(self.cluster, pool, log, self.masker, RunState(), read_only, dict(TEST_OPTIONS))
        chosen = [h for h in self.cluster.hosts if hosts is None or h.name in hosts or not h.is_windows]
        try:
            report = Runner(
                ctx, chosen, steps, RunnerOptions(retries=retries, backoff=0.2), sleep=lambda _s: None
            ).run()
        finally:
            pool.close()
        return report, log

    def requests(self) -> dict[str, int]:
        """HTTP requests each endpoint served since the last ``reset_counts``."""
        return {name: node.endpoint.request_count for name, node in self.nodes.items()}

    def reset_counts(self) -> None:
        """Zero every endpoint's request counter."""
        for node in self.nodes.values():
            node.endpoint.reset_counts()
