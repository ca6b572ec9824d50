"""containerd registry hosts on simulated Windows nodes: installed under containerd's directory, converged,
and removed only when hybridctl wrote them.

Tier: winrm contract. Real: the Runner, the steps, pypsrp over HTTPS with a test CA, the WinRM protocol,
the transport's chunked file writes and the win/remove-paths script's contract. Simulated: the Windows
hosts (machine model and script handlers in tests/support/winrm), the control plane (a fake transport).
What containerd resolves from the files is judged by its own loader in tests/render/test_registries.py.
"""

from __future__ import annotations

from typing import Any

from hybridctl.inventory.models import Cluster, ContainerdSpec
from hybridctl.steps.windows import FINISH, JOIN, NETWORK, PREPARE
from tests.lab.windows_sim.testbed import Testbed
from tests.steps.test_windows_steps import changes, failures

ALL = [*PREPARE, *JOIN, *NETWORK, *FINISH]
CERTS = "C:\\Program Files\\containerd\\certs.d"
LAB = {"host": "10.231.5.1:5000", "server": "http://10.231.5.1:5000"}
MIRROR = {"host": "registry.k8s.io", "mirrors": [{"url": "http://10.231.5.1:5000"}]}
RECORD = "C:\\k\\hybridctl\\registry-hosts.json"


def _with(cluster: Cluster, *registries: dict[str, Any]) -> Cluster:
    containerd = ContainerdSpec.model_validate({"registries": list(registries)})
    return cluster.model_copy(update={"spec": cluster.spec.model_copy(update={"containerd": containerd})})


def _converge(testbed: Testbed) -> list[tuple[str, str, list[str]]]:
    report, _ = testbed.run(testbed.steps(ALL))
    assert not failures(report), failures(report)
    again, _ = testbed.run(testbed.steps(ALL))
    assert changes(again) == []
    return [c for c in changes(report) if c[:2] == ("win1", "windows-containerd-config")]


def test_registry_files_are_installed_and_stale_ones_removed(testbed: Testbed) -> None:
    machine = testbed.nodes["win1"].host.machine
    base = testbed.cluster
    testbed.cluster = _with(base, LAB, MIRROR)
    _converge(testbed)
    hosts_toml = machine.read_file(f"{CERTS}\\10.231.5.1_5000_\\hosts.toml").decode()
    assert 'server = "http://10.231.5.1:5000"' in hosts_toml
    assert machine.has_file(f"{CERTS}\\registry.k8s.io\\hosts.toml")
    config = machine.read_file("C:\\Program Files\\containerd\\config.toml").decode()
    assert 'config_path = "C:\\\\Program Files\\\\containerd\\\\certs.d"' in config
    machine.write_file(f"{CERTS}\\docker.io\\hosts.toml", b'server = "https://x"\n')

    testbed.cluster = _with(base, LAB)
    assert _converge(testbed) == [
        (
            "win1",
            "windows-containerd-config",
            [
                f"remove {CERTS}\\registry.k8s.io (registry no longer in the inventory)",
                f"record the registry directories in {RECORD}",
            ],
        )
    ]
    assert not machine.has_file(f"{CERTS}\\registry.k8s.io\\hosts.toml")
    assert machine.has_file(f"{CERTS}\\docker.io\\hosts.toml")

    testbed.cluster = _with(base)
    _converge(testbed)
    assert not machine.has_file(f"{CERTS}\\10.231.5.1_5000_\\hosts.toml")
    assert not machine.has_file(RECORD)
    assert machine.has_file(f"{CERTS}\\docker.io\\hosts.toml")
