"""An emulated Windows node that joins a REAL API server with the files hybridctl rendered for it.

The node agent (``tests/upstream/winagent``, built by ``python -m tests.upstream.build winagent``) runs the
kubelet's and kube-proxy's own code for everything that is not Windows: flag parsing and validation, the
config loader, TLS bootstrap and the client certificate manager, the Ready condition, the node lease, pod
status patches, kube-proxy's client and informers. What only Windows has is emulated by the hook
(``winnode_hook.py``): HNS networks and load balancers, and the container runtime (pods are network
namespaces on the host's bridge).

Files: hybridctl's renderer output is written under a directory standing for the host's ``C:`` drive,
Windows paths mapped by ``windows_path`` (the same rule as the agent's ``winPath``); the agent writes
``kubelet.conf`` and the certificates back there, where the real kubelet writes them.

Entry points (for the real-cluster lab too):

- Through hybridctl's own Windows steps (``up``/``add-node`` over WinRM): give each simulated Windows host
  ``KubeSide(None, judge, SimulatedHostAgents({hostname: its netns}, workdir))`` as the ``kube`` of its
  ``WindowsScripts`` (``WindowsLab(..., kube=...)`` in tests/lab/test_windows_lab.py builds such hosts on a
  lab bridge). Starting the kubelet/kube-proxy service then runs the agent in the host's namespace with
  the files hybridctl wrote; it needs the API server reachable from there (an address on the same bridge,
  hybridctl's ``controlPlaneEndpoint`` or first control plane), and nothing else: the CA, the bootstrap
  token and the kube-proxy token are in those files. Call ``close()`` at the end.
- Without WinRM: ``EmulatedWindowsNode(cluster, host, RuntimeValues(bootstrap_token, ca_certificate,
  kube_proxy_token, windows_builds), namespace)`` renders with ``render_host`` and starts the agents.
- ``NodeAgent`` (one agent process from a service's argv), ``agent_binary()``.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from hybridctl.inventory.models import Cluster
from hybridctl.render import RenderedFile, RuntimeValues, render_host
from hybridctl.steps.windows.common import one_file
from hybridctl.steps.windows.services import definition
from tests.lab.datapath import WINDOWS_CNI, WINDOWS_OVERLAY_CNI
from tests.lab.real.winflannel import OverlayAgent
from tests.lab.real.winnode_hook import HookConfig, remove_pod
from tests.support.winrm.machine import WindowsMachine
from tests.upstream.build import ensure, winagent

REPO = Path(__file__).resolve().parents[3]
KUBELET_FILES = ("kubelet-config", "kubelet-bootstrap-kubeconfig", "ca-certificate", "kubelet-service")
KUBE_PROXY_FILES = ("kube-proxy-config", "kube-proxy-kubeconfig", "kube-proxy-service")
CNI_BIN = "/usr/lib/cni"
"""The CNI plugins the lab's data path uses (Debian's containernetworking-plugins, .ci/run)."""


def agent_binary() -> Path:
    """The agent, built from tests/upstream/k8s-1.37 (cached per source and pin)."""
    return ensure(winagent()) / "winagent"


def windows_path(root: Path, path: str) -> Path:
    """Where Windows path ``C:\\a\\B`` of the emulated host lives under ``root``: ``root/a/b``
    (lower-cased: NTFS is case-insensitive). The agent maps with the same rule (winagent/paths.go)."""
    if len(path) < 2 or path[1] != ":":
        raise ValueError(f"not a Windows path with a drive letter: {path!r}")
    return root.joinpath(*[part for part in path[2:].replace("\\", "/").lower().split("/") if part])


def install_files(root: Path, files: Sequence[RenderedFile]) -> None:
    """Write rendered files where hybridctl installs them (placeholders refused: ``installable``)."""
    for item in files:
        if item.target:
            path = windows_path(root, item.target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.installable())


def service_arguments(files: Sequence[RenderedFile], purpose: str) -> list[str]:
    """The argv of a rendered service definition (what nssm passes as AppParameters)."""
    return [str(arg) for arg in definition(one_file(files, purpose))["arguments"]]


def hook_executable(workdir: Path, config: HookConfig) -> Path:
    """An executable the agent calls: this interpreter running winnode_hook with the host's config."""
    config_file = config.write(workdir / "hook.json")
    script = workdir / "hook"
    script.write_text(
        "#!/bin/sh\n"
        f"cd '{REPO}' && exec '{sys.executable}' -m tests.lab.real.winnode_hook '{config_file}' \"$@\"\n"
    )
    script.chmod(0o755)
    return script


def remove_pods(config: HookConfig) -> None:
    """Remove every pod the hook made (servers by pid, addresses, namespaces)."""
    for path in sorted((Path(config.state) / "pods").glob("*.json")):
        remove_pod(config, json.loads(path.read_text()), path.stem)
        path.unlink()


@dataclass
class NodeAgent:
    """One agent process: ``mode`` is ``kubelet`` or ``kube-proxy``, ``argv`` the service's arguments."""

    mode: str
    root: Path
    hook: Path
    argv: list[str]
    build: str = "10.0.20348"
    namespace: str | None = None
    """Run inside this network namespace (the Windows lab host's), else in the caller's."""
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def command(self) -> list[str]:
        """The agent's command line; ``nsenter --net`` rather than ``ip netns exec``, which would also give
        it a private mount namespace, hiding the pod namespaces its hook mounts under /run/netns."""
        prefix = ["nsenter", f"--net=/run/netns/{self.namespace}", "--"] if self.namespace else []
        options = [f"--root={self.root}", f"--hook={self.hook}", f"--build={self.build}"]
        return [*prefix, str(agent_binary()), self.mode, *options, "--", *self.argv]

    def start(self) -> NodeAgent:
        """Start the process (stdout and stderr to ``log_path``)."""
        self.log_path = self.log_path or self.root.parent / f"{self.mode}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        return self

    def running(self) -> bool:
        """Still running."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything it logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        """TERM by pid, KILL after 5 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class EmulatedWindowsNode:
    """A Windows inventory host as a node of a real cluster: renders its files with hybridctl's renderer
    (``render_host``, what ``up``/``render`` install), writes them under ``root``, runs the kubelet agent
    (and kube-proxy with ``kube_proxy=True``); ``stop`` removes processes, pods and files."""

    cluster: Cluster
    host: str
    values: RuntimeValues
    namespace: str
    """The Windows host's network namespace (pods attach to ``bridge`` there)."""
    bridge: str = "cbr0"
    agent_namespace: str | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hybridctl-win-")))
    agents: dict[str, NodeAgent | OverlayAgent] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    """HookConfig.images: image reference -> the program its pods' containers run."""

    def __post_init__(self) -> None:
        self.root = self.workdir / "c"
        state = self.workdir / "state"
        state.mkdir(parents=True, exist_ok=True)
        prefix = f"{self.namespace[:6]}p"
        self.hook_config = HookConfig(self.namespace, self.bridge, CNI_BIN, str(state), prefix, self.images)
        self.hook = hook_executable(self.workdir, self.hook_config)
        self.files = render_host(self.cluster, self.cluster.host(self.host), self.values)

    @property
    def build(self) -> str:
        """The Windows build the host reports (the inventory's, as hybridctl renders it)."""
        from hybridctl.render.context import windows_build

        return windows_build(self.cluster.host(self.host), self.values)

    def start(
        self, *, kube_proxy: bool = False, kubelet_argv: list[str] | None = None
    ) -> EmulatedWindowsNode:
        """Install the kubelet's files (and kube-proxy's) and start the agents."""
        purposes = KUBELET_FILES + (KUBE_PROXY_FILES if kube_proxy else ())
        install_files(self.root, [f for f in self.files if f.purpose in purposes])
        argv = kubelet_argv if kubelet_argv is not None else service_arguments(self.files, "kubelet-service")
        self._agent("kubelet", argv)
        if kube_proxy:
            self.start_kube_proxy()
        return self

    def start_kube_proxy(self) -> NodeAgent:
        """Install kube-proxy's files and start its agent."""
        install_files(self.root, [f for f in self.files if f.purpose in KUBE_PROXY_FILES])
        return self._agent("kube-proxy", service_arguments(self.files, "kube-proxy-service"))

    def _agent(self, mode: str, argv: list[str]) -> NodeAgent:
        agent = NodeAgent(mode, self.root, self.hook, argv, self.build, self.agent_namespace)
        self.agents[mode] = agent.start()
        return agent

    def path(self, windows: str) -> Path:
        """Where a Windows path of this host is on this machine."""
        return windows_path(self.root, windows)

    def proxy_map(self) -> list[dict[str, object]]:
        """The ClusterIP map kube-proxy last handed to HNS (empty before its first sync)."""
        return proxy_map(self.hook_config)

    def stop(self) -> None:
        """Stop the agents, remove the pods, delete the files."""
        for agent in self.agents.values():
            agent.stop()
        remove_pods(self.hook_config)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EmulatedWindowsNode:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def proxy_map(config: HookConfig) -> list[dict[str, object]]:
    """The ClusterIP map a host's kube-proxy last handed to HNS (empty before its first sync)."""
    path = Path(config.state) / "proxy.json"
    loaded: list[dict[str, object]] = json.loads(path.read_text()) if path.exists() else []
    return loaded


def bridge_endpoint(pod_cidr: str) -> str:
    """The host endpoint's address on the L2Bridge network (hns-network.json: the second address)."""
    return str(ipaddress.ip_network(pod_cidr)[2])


@dataclass
class _HostAgents:
    """One simulated host's agent processes, its C: directory and hook."""

    root: Path
    hook: HookConfig
    hook_path: Path
    agents: dict[str, NodeAgent | OverlayAgent] = field(default_factory=dict)


class SimulatedHostAgents:
    """The real node agents behind simulated Windows hosts (``KubeSide(agents=...)``).

    Starting a host's kubelet or kube-proxy service writes the simulated machine's files under a directory
    standing for its ``C:`` drive and runs the agent inside the host's network namespace (the Windows lab
    host's: it reaches the API server over the lab bridge and its pods attach to the ``cbr0`` bridge that
    hybridctl's HNS network step realised there). What the kubelet writes (``kubelet.conf``, the client
    certificate) is copied back into the simulated file system while it runs and when it stops, where
    hybridctl's steps look for it; a start with no other agent of the host running first empties the
    directory, so files hybridctl deleted (``_forget_old_identity``) are gone for the agent too.

    For the real-cluster lab: ``KubeSide(None, judge, SimulatedHostAgents({hostname: netns}, dir))`` as the
    ``kube`` of ``WindowsScripts`` (tests/lab/test_windows_lab.py ``WindowsLab(kube=...)`` does this).
    In vxlan mode (``network="flannel.4096"``) starting the ``flanneld`` service runs the Windows flanneld
    stand-in (``OverlayAgent``, tests/lab/real/winflannel.py) and pods attach to its overlay bridge.
    """

    def __init__(
        self,
        namespaces: dict[str, str],
        workdir: Path,
        images: dict[str, str] | None = None,
        network: str = "cbr0",
    ) -> None:
        self.namespaces = {name.lower(): namespace for name, namespace in namespaces.items()}
        self.network = network  # the HNS network pods attach to: cbr0 (routes) or flannel.4096 (vxlan)
        self.images = dict(images or {})  # HookConfig.images: what the emulated pods may run
        self.workdir = workdir
        self.hosts: dict[str, _HostAgents] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sync = threading.Thread(target=self._sync_loop, name="winagent-sync", daemon=True)
        self._machines: dict[str, WindowsMachine] = {}
        self._sync.start()

    def _host(self, machine: WindowsMachine) -> _HostAgents:
        name = machine.hostname.lower()
        if name not in self.hosts:
            base = self.workdir / name
            (base / "state").mkdir(parents=True, exist_ok=True)
            namespace = self.namespaces[name]
            state, prefix = str(base / "state"), f"{namespace[:6]}p"
            conf = WINDOWS_CNI if self.network == "cbr0" else WINDOWS_OVERLAY_CNI
            cni = str(windows_path(base / "c", conf))
            config = HookConfig(namespace, self.network, CNI_BIN, state, prefix, self.images, cni)
            self.hosts[name] = _HostAgents(base / "c", config, hook_executable(base, config))
        return self.hosts[name]

    def start(self, machine: WindowsMachine, service: str, argv: list[str]) -> None:
        """Export the machine's files and start the agent (replacing a running one); flanneld is the
        overlay stand-in (winflannel.py), which works on the machine model directly."""
        host = self._host(machine)
        self.stop(machine, service)
        if service == "flanneld":
            overlay = OverlayAgent(machine, self.namespaces[machine.hostname.lower()], argv)
            host.agents[service] = overlay.start()
            return
        if not host.agents:  # nothing reads the directory: make it the machine's files exactly (a file
            shutil.rmtree(host.root, ignore_errors=True)  # hybridctl deleted must not linger here)
        with machine.lock:
            files = {key: bytes(data) for key, data in machine.files.items() if len(data) < 1 << 20}
        for key, data in files.items():
            path = windows_path(host.root, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        agent = NodeAgent(
            service,
            host.root,
            host.hook_path,
            argv,
            machine.version,
            self.namespaces[machine.hostname.lower()],
        )
        agent.log_path = host.root.parent / f"{service}.log"
        host.agents[service] = agent.start()
        with self._lock:
            self._machines[machine.hostname.lower()] = machine

    def stop(self, machine: WindowsMachine, service: str) -> None:
        """Stop the service's agent, if any."""
        host = self.hosts.get(machine.hostname.lower())
        agent = host.agents.pop(service, None) if host else None
        if agent is not None:
            agent.stop()
            if host is not None and service == "kubelet":
                self._copy_back(host.root, machine)

    def running(self, machine: WindowsMachine, service: str) -> bool:
        """Whether the service's agent runs."""
        host = self.hosts.get(machine.hostname.lower())
        return bool(host and service in host.agents and host.agents[service].running())

    def proxy_map(self, host: str) -> list[dict[str, object]]:
        """The ClusterIP map ``host``'s kube-proxy agent last handed to HNS."""
        found = self.hosts.get(host.lower())
        return proxy_map(found.hook) if found else []

    def log(self, host: str, service: str) -> str:
        """An agent's log (also after it stopped)."""
        path = self.workdir / host.lower() / f"{service}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _sync_loop(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                machines = dict(self._machines)
            for name, machine in machines.items():
                host = self.hosts[name]
                if "kubelet" in host.agents and host.agents["kubelet"].running():
                    self._copy_back(host.root, machine)

    @staticmethod
    def _copy_back(root: Path, machine: WindowsMachine) -> None:
        """What the kubelet wrote (kubelet.conf, pki/) into the simulated file system."""
        wanted = [
            root / "etc" / "kubernetes" / "kubelet.conf",
            *sorted((root / "var" / "lib" / "kubelet" / "pki").glob("*")),
        ]
        for path in wanted:
            if not path.is_file():
                continue
            windows = "C:\\" + "\\".join(path.relative_to(root).parts)
            data = path.read_bytes()
            try:
                same = machine.read_file(windows) == data
            except FileNotFoundError:
                same = False
            if not same:
                machine.write_file(windows, data)

    def close(self) -> None:
        """Stop every agent, remove every pod and the directory."""
        self._stop.set()
        self._sync.join(timeout=5)
        for host in self.hosts.values():
            for agent in host.agents.values():
                agent.stop()
            remove_pods(host.hook)
        shutil.rmtree(self.workdir, ignore_errors=True)
