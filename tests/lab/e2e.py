"""The end-to-end lab: Linux test hosts with the simulated toolchain plus simulated Windows hosts on the
same bridge, an artifact mirror, one shared cluster model, and the real ``hybridctl`` CLI driving them.

Real: the hybridctl CLI (a subprocess), OpenSSH sshd in network namespaces, paramiko, the unmodified
pypsrp client over HTTPS (lab CA) to WinRM endpoints listening inside the Windows hosts' namespaces,
downloads over the bridge with sha256 checks, kernel routes, bridges, iptables and the CNI plugins.
Simulated: kubeadm/kubelet/kubectl/containerd/systemd/apt on the Linux hosts (tests/lab/linux_sim), the
Windows OS behind the endpoint (tests/support/winrm), the control plane (tests/lab/cluster_model.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hybridctl.inventory import load_inventory
from tests.lab.artifacts import build_linux_artifacts
from tests.lab.cluster_model import ClusterModel
from tests.lab.linux_sim.lab import SimLab
from tests.lab.windows_sim.artifacts import build_windows_artifacts, pinned_checksums
from tests.lab.windows_sim.netns import WindowsLabHost
from tests.support.inventory import kubernetes_spec, linux_entry
from tests.support.linux_hosts import TestHost
from tests.support.upstream import default_judge
from tests.support.winrm import (
    Accounts,
    EndpointConfig,
    SimulatedWindowsHost,
    WindowsMachine,
    register_builtin,
)
from tests.support.winrm.windows_boot import boot_with_tasks
from tests.support.winrm.windows_handlers import WindowsScripts, register_windows
from tests.support.winrm.windows_kube import KubeSide
from tests.support.winrm_fixtures import TEST_OPERATION_TIMEOUT, TEST_READ_TIMEOUT, WinRMAccount, WinRMPki

PASSWORD_VARIABLE = "LAB_WINRM_PASSWORD"
WINDOWS_FIRST = 200  # Linux test hosts count up from .2; Windows hosts take .201 and up
CLI_TIMEOUT = 900


@dataclass
class WindowsNode:
    """A simulated Windows host of the lab: its namespace, the simulated machine and its endpoint."""

    name: str
    address: str
    lab_host: WindowsLabHost
    simulated: SimulatedWindowsHost
    port: int
    cluster: ClusterModel

    @property
    def namespace(self) -> str:
        """The host's network namespace."""
        return self.lab_host.namespace

    @property
    def service_subnet(self) -> str:
        """The cluster's Service CIDR as kubeadm was initialised with it (the load balancers' VIPs)."""
        return str(self.cluster.read()["cluster"]["serviceSubnet"])


Member = tuple[TestHost | WindowsNode, str]


class HybridLab:
    """Both halves of the lab, an inventory writer and the CLI; ``close`` removes what it added."""

    def __init__(self, sim: SimLab, workdir: Path, pki: WinRMPki, account: WinRMAccount) -> None:
        self.sim = sim
        self.workdir = workdir
        self.pki = pki
        self.account = account
        self.windows: list[WindowsNode] = []
        self.linux: list[TestHost] = []
        self._windows_count = 0
        self._cache = False
        self.inventory_path = workdir / "inventory.yaml"

    @property
    def state_dir(self) -> Path:
        """Where the CLI keeps this cluster's run state."""
        return self.workdir / ".hybridctl" / "lab"

    def add_linux(self, count: int) -> list[TestHost]:
        """Linux test hosts with the simulated toolchain; the lab's first one has FORWARD policy DROP.

        Docker sets the FORWARD policy to DROP when it enables IP forwarding (so do ufw and firewalld);
        on such a host cross-node pod traffic lives only through hybridctl's FORWARD accept rules
        (flannel-io/flannel#1450).
        """
        hosts = self.sim.add(count)
        if hosts and not self.linux:
            hosts[0].exec("iptables", "-w", "-t", "filter", "-P", "FORWARD", "DROP")
        self.linux += hosts
        return hosts

    def add_windows(self, count: int) -> list[WindowsNode]:
        """Simulated Windows hosts on the lab bridge, each with a WinRM endpoint inside its namespace."""
        return [self._windows_node() for _ in range(count)]

    def _windows_node(self) -> WindowsNode:
        self._windows_count += 1
        index, slot = self._windows_count, self.sim.hosts.slot
        name, address = f"w{slot}-{index}", f"10.231.{slot}.{WINDOWS_FIRST + index}"
        lab_host = WindowsLabHost(
            name,
            address,
            self.sim.hosts.bridge,
            self.sim.hosts.gateway,
            namespace=f"hxw{slot}-{index}",
            veth=f"hxw{slot}v{index}",
        )
        lab_host.create()
        # Real adapter names vary (microsoft/SDN#300): VMware 'Ethernet0', Hyper-V/Azure 'Ethernet 2'.
        adapter = ("Ethernet0", "Ethernet 2")[index % 2]
        simulated = SimulatedWindowsHost(WindowsMachine(hostname=name, adapters={adapter: address}))
        register_builtin(simulated.scripts)
        scripts = WindowsScripts(
            KubeSide(self.sim.model, default_judge()), lab_host.realiser, api_probe=lab_host.connect_tcp
        )
        register_windows(simulated.scripts, scripts)
        boot_with_tasks(simulated, scripts)
        cert, key = self.pki.ca.issue_server(address).write(self.workdir, f"lab-{name}")
        accounts = Accounts({self.account.user: self.account.password})
        config = EndpointConfig(accounts=accounts, cert_file=cert, key_file=key, restart_down_seconds=0.5)
        endpoint = lab_host.serve(simulated, config)
        node = WindowsNode(name, address, lab_host, simulated, endpoint.port, self.sim.model)
        self.windows.append(node)
        return node

    def write_inventory(self, members: Sequence[Member], *, cache: bool = False) -> Path:
        """The inventory for ``members``; the mirror gets every artifact it names.

        ``cache``: hybridctl downloads artifacts once into ``<workdir>/cache`` and pushes them.
        """
        self._cache = cache
        document = self._document(members, {})
        self.inventory_path.write_text(yaml.safe_dump(document, sort_keys=False))
        # the draft lacks the pins validate requires (they come from the artifacts built from it)
        cluster = load_inventory(self.inventory_path, env=self.env()).cluster
        assert cluster is not None, "the draft inventory must pass the schema"
        build_linux_artifacts(self.sim.mirror, cluster)
        build_windows_artifacts(self.sim.mirror, cluster)
        document = self._document(members, pinned_checksums(cluster))
        self.inventory_path.write_text(yaml.safe_dump(document, sort_keys=False))
        return self.inventory_path

    def _document(self, members: Sequence[Member], pins: dict[str, str]) -> dict[str, Any]:
        artifacts = {"source": "mirror", "mirrorUrl": self.sim.mirror.url, "checksums": pins}
        if self._cache:
            artifacts["cacheDir"] = "cache"
        return {
            "apiVersion": "hybridctl.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "lab"},
            "spec": {
                "kubernetes": kubernetes_spec(),
                "network": {"mode": "routes"},
                "artifacts": artifacts,
                "hosts": [self._entry(member, role) for member, role in members],
            },
        }

    def _entry(self, member: TestHost | WindowsNode, role: str) -> dict[str, Any]:
        if isinstance(member, TestHost):
            return linux_entry(member, role)
        winrm = {
            "user": self.account.user,
            "password": f"${{env:{PASSWORD_VARIABLE}}}",
            "auth": "basic",
            "port": member.port,
            "caBundle": str(self.pki.ca_file),
            "operationTimeout": TEST_OPERATION_TIMEOUT,
            "readTimeout": TEST_READ_TIMEOUT,
        }
        entry = {"name": member.name, "address": member.address, "role": role, "os": "windows"}
        adapter = next(iter(member.simulated.machine.adapters))
        return {**entry, "windowsVersion": 2022, "interface": adapter, "winrm": winrm}

    def env(self) -> dict[str, str]:
        """The environment the CLI runs with (the WinRM password comes from it)."""
        return {**os.environ, PASSWORD_VARIABLE: self.account.password}

    def command(self, *args: str) -> list[str]:
        """The argv of a hybridctl run against this lab's inventory."""
        return [sys.executable, "-m", "hybridctl", *args, "-i", str(self.inventory_path)]

    def hybridctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the CLI to completion."""
        return subprocess.run(
            self.command(*args),
            cwd=self.workdir,
            env=self.env(),
            stdin=subprocess.DEVNULL,  # no terminal: a question would be refused, never hang
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start the CLI (JSON events on stdout) without waiting; it sees SIGINT (tests/conftest.py
        makes sure pytest does not run with SIGINT ignored, which the CLI would inherit)."""
        return subprocess.Popen(
            self.command(*args, "--output", "json"),
            cwd=self.workdir,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def close(self) -> None:
        """Remove the Windows hosts and the Linux hosts this lab added."""
        for node in self.windows:
            node.lab_host.destroy()
        self.sim.remove(self.linux)
        self.windows, self.linux = [], []


def events(stdout: str) -> list[dict[str, Any]]:
    """The JSON Lines events of a ``--output json`` run."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def changed_steps(stdout: str) -> list[tuple[str, str]]:
    """(host, step) of every apply that changed something (the plan pass excluded)."""
    found, applying = [], False
    for event in events(stdout):
        if event["event"] == "run-start":
            applying = not str(event.get("verb", "")).endswith("(plan)")
        elif event["event"] == "step-end" and applying and event["outcome"] == "changed":
            found.append((event["host"], event["step"]))
    return found


def planned_changes(stdout: str) -> list[tuple[str, str]]:
    """(host, step) of every step the plan pass said would change something."""
    found, planning = [], False
    for event in events(stdout):
        if event["event"] == "run-start":
            planning = str(event.get("verb", "")).endswith("(plan)")
        elif event["event"] == "step-end" and planning and event["outcome"] == "changed":
            found.append((event["host"], event["step"]))
    return found


def interrupt_after(
    process: subprocess.Popen[str], steps: int | float, how: signal.Signals
) -> list[dict[str, Any]]:
    """Let ``steps`` applies finish, then send ``how``; returns the events seen (waits for the exit).

    A float in [0, 1) picks the point uniformly over the whole run: it is scaled by the number of
    (host, step) results of the verb's own plan phase, so every step of every host (route programming and
    the cluster steps included) can be the one interrupted.
    """
    return interrupt_on(process, _StepCount(steps), how)


def interrupt_on(
    process: subprocess.Popen[str], stop: Callable[[dict[str, Any]], bool], how: signal.Signals
) -> list[dict[str, Any]]:
    """Send ``how`` at the first event ``stop`` accepts; returns the events seen (waits for the exit)."""
    seen: list[dict[str, Any]] = []
    for line in _lines(process):
        event = json.loads(line)
        seen.append(event)
        if stop(event):
            process.send_signal(how)
            break
    process.communicate(timeout=CLI_TIMEOUT)
    return seen


class _StepCount:
    """Accepts the step-end event of the apply that makes ``steps`` (see ``interrupt_after``)."""

    def __init__(self, steps: int | float) -> None:
        self.steps, self.applying, self.done, self.planned = steps, False, 0, 0
        self.target = steps if isinstance(steps, int) else None

    def __call__(self, event: dict[str, Any]) -> bool:
        if event["event"] == "run-start":
            self.applying = not str(event.get("verb", "")).endswith("(plan)")
            if self.applying and self.target is None:
                self.target = 1 + int(float(self.steps) * max(self.planned - 2, 1))
        elif event["event"] == "step-end" and not self.applying:
            self.planned += 1
        elif event["event"] == "step-end":
            self.done += 1
            return self.done == self.target
        return False


def _lines(process: subprocess.Popen[str]) -> Iterator[str]:
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip():
            yield line
