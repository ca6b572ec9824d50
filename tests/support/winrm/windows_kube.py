"""The node agents of the simulated Windows host: what starting containerd, kubelet and kube-proxy does.

Simulated: the agents. Starting a service validates what it would read on Windows and fails loudly
otherwise: containerd's config.toml (TOML, CNI directories); the kubelet's flags and KubeletConfiguration
(cgroupsPerQOS false, enforceNodeAllocatable [], resolvConf "", the npipe endpoint) and its credentials
(a bootstrap token valid in the shared ``ClusterModel``, which then registers the Node with the Windows
labels and taints); kube-proxy's KubeProxyConfiguration (an existing HNS network) and its kube-proxy
ServiceAccount token. A node is Ready while its kubelet runs and its HNS network exists.

With an ``UpstreamJudge`` (the lab's), an agent also refuses to start when the upstream validators
(Kubernetes', containerd's own decoding, validation and flag-set code; tests/support/upstream.py)
refuse its command line or config file, with the upstream error: the real agent would not start either.

With ``NodeAgents`` (the real-Kubernetes tier: tests/lab/real/winnode.py ``SimulatedHostAgents``), the
kubelet and kube-proxy services do not consult the model: starting one runs the node agent
(tests/upstream/winagent) with the service's command line and the files of the simulated file system,
against the real API server; the node's registration, Ready condition and kube-proxy's credentials are
then judged by the real control plane, not by this class.
"""

from __future__ import annotations

import tomllib
from typing import Any, Protocol

import yaml

from tests.lab.cluster_model import ClusterModel, ModelError
from tests.support.upstream import Check, UpstreamJudge
from tests.support.winrm import windows_flanneld as flanneld
from tests.support.winrm.host import ScriptContext, ScriptError
from tests.support.winrm.machine import WindowsMachine

NPIPE = "npipe:////./pipe/containerd-containerd"
CNI_BIN = "c:/opt/cni/bin"
CNI_CONF = "c:/etc/cni/net.d"
# The pod networks a node can have: win-bridge's L2Bridge and flanneld's Overlay (flannel.<VNI>, VNI 4096).
POD_NETWORKS = ("cbr0", "flannel.4096")


def split_command_line(line: str) -> list[str]:
    """CommandLineToArgvW's rules (backslashes before quotes, quoted spaces), as nssm's child sees them."""
    args: list[str] = []
    current, quoted, backslashes, started = "", False, 0, False
    for char in line:
        if char == "\\":
            backslashes += 1
            continue
        if char == '"':
            current += "\\" * (backslashes // 2) + ('"' if backslashes % 2 else "")
            quoted = quoted if backslashes % 2 else not quoted
            backslashes, started = 0, True
            continue
        current, started, backslashes = current + "\\" * backslashes, started or backslashes > 0, 0
        if char in " \t" and not quoted:
            if started:
                args.append(current)
            current, started = "", False
        else:
            current, started = current + char, True
    if started or backslashes:
        args.append(current + "\\" * backslashes)
    return args


def flags(argv: list[str]) -> dict[str, str]:
    """``--name=value`` arguments by name; anything else is refused like an unknown flag."""
    found = {}
    for arg in argv:
        name, sep, value = arg.partition("=")
        if not name.startswith("--") or not sep:
            raise ScriptError(f"unknown or malformed flag {arg!r}")
        found[name[2:]] = value
    return found


class NodeAgents(Protocol):
    """Real node agents behind the simulated kubelet and kube-proxy services."""

    def start(self, machine: WindowsMachine, service: str, argv: list[str]) -> None:
        """Run the agent of ``service`` (kubelet, kube-proxy or flanneld) with the service's argv."""

    def stop(self, machine: WindowsMachine, service: str) -> None:
        """Stop it (no-op when not running)."""

    def running(self, machine: WindowsMachine, service: str) -> bool:
        """Whether it runs."""


class KubeSide:
    """Validates agent starts against the machine's files and the shared cluster model (or, with
    ``agents``, hands the started service to a real node agent)."""

    def __init__(
        self,
        cluster: ClusterModel | None,
        upstream: UpstreamJudge | None = None,
        agents: NodeAgents | None = None,
    ) -> None:
        self.cluster = cluster
        self.upstream = upstream
        self.agents = agents

    def _judge(
        self, machine: WindowsMachine, kind: str, path: str, data: str = "", argv: list[str] | None = None
    ) -> None:
        """ScriptError with the upstream error when the upstream validator refuses (no judge: no-op)."""
        if self.upstream is None:
            return
        check = Check(kind, machine.hostname.lower(), path, "windows", data, tuple(argv or ()))
        refusal = self.upstream.refusal(check)
        if refusal is not None:
            raise ScriptError(refusal)

    def start(self, machine: WindowsMachine, name: str) -> None:
        """Validate and mark the service running; ScriptError when the agent would not start."""
        service = machine.services[name]
        for dependency in service.depends_on:
            other = machine.services.get(dependency)
            if other is None:
                raise ScriptError(f"service {name} depends on {dependency}, which does not exist")
            if other.status != "Running":
                self.start(machine, dependency)
        starter = {
            "containerd": self._containerd,
            "kubelet": self._kubelet,
            "kube-proxy": self._kube_proxy,
            "flanneld": self._flanneld,
        }
        starter.get(name, lambda _m, _s: None)(machine, service.parameters)
        service.status = "Running"
        self.update_ready(machine)

    def stop(self, machine: WindowsMachine, name: str) -> None:
        """Stop the service (and mark the node NotReady when it is the kubelet)."""
        if self.agents is not None:
            self.agents.stop(machine, name)
        machine.services[name].status = "Stopped"
        self.update_ready(machine)

    def restart_forced(self, machine: WindowsMachine, name: str) -> list[str]:
        """``Restart-Service -Force``: stop the running services that depend on ``name`` (transitively),
        stop and start ``name``; the dependents stay stopped (a restart is a stop plus a start,
        winsw/winsw#400; Stop-Service -Force stops dependents). Returns the dependents it stopped."""
        stopped = []
        for dependent in dependents(machine, name):
            if machine.services[dependent].status == "Running":
                self.stop(machine, dependent)
                stopped.append(dependent)
        self.stop(machine, name)
        self.start(machine, name)
        return stopped

    def update_ready(self, machine: WindowsMachine) -> None:
        """Ready while the kubelet runs and the pod network exists."""
        node = machine.hostname.lower()
        if self.cluster is None or self.agents is not None or node not in self.cluster.nodes():
            return
        kubelet = machine.services.get("kubelet")
        network = any(n in machine.hns_networks for n in POD_NETWORKS)
        ready = kubelet is not None and kubelet.status == "Running" and network
        if self.cluster.nodes()[node].get("ready") != ready:
            self.cluster.set_ready(node, ready)

    def kube_proxy_healthy(self, machine: WindowsMachine) -> bool:
        """kube-proxy answers /healthz once it runs and found its network."""
        service = machine.services.get("kube-proxy")
        if self.agents is not None:
            return service is not None and self.agents.running(machine, "kube-proxy")
        return service is not None and service.status == "Running"

    def _containerd(self, machine: WindowsMachine, _parameters: dict[str, Any]) -> None:
        text = _read(machine, "C:\\Program Files\\containerd\\config.toml")
        self._judge(machine, "containerd-config", "C:\\Program Files\\containerd\\config.toml", text)
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScriptError(f"containerd: failed to load config.toml: {exc}") from None
        cni = _cni_section(config)
        dirs = cni.get("bin_dirs") or [cni.get("bin_dir")]
        if dirs != [CNI_BIN] or cni.get("conf_dir") != CNI_CONF:
            raise ScriptError(f"containerd (simulated): CNI directories are {dirs}, {cni.get('conf_dir')}")

    def _kubelet(self, machine: WindowsMachine, parameters: dict[str, Any]) -> None:
        argv = split_command_line(str(parameters.get("AppParameters", "")))
        self._judge(machine, "kubelet-args", "kubelet service AppParameters", argv=argv)
        args = flags(argv)
        for required in ("config", "kubeconfig", "bootstrap-kubeconfig", "cert-dir", "hostname-override"):
            if required not in args:
                raise ScriptError(f"kubelet: --{required} is required by hybridctl's service definition")
        config = _yaml(machine, args["config"])
        self._judge(machine, "kubelet-config", args["config"], _read(machine, args["config"]))
        _check_kubelet_config(config)
        node = args["hostname-override"]
        if node != machine.hostname.lower():
            raise ScriptError(f"kubelet: --hostname-override={node} but the computer is {machine.hostname}")
        if self.agents is not None:
            self.agents.start(machine, "kubelet", argv)
        elif not machine.has_file(args["kubeconfig"]):
            self._bootstrap(machine, args, config)
        elif self.cluster is not None and node not in self.cluster.nodes():
            self._register(
                machine, node, config
            )  # a kubelet with a valid client certificate re-creates its Node

    def _bootstrap(self, machine: WindowsMachine, args: dict[str, str], config: dict[str, Any]) -> None:
        kubeconfig = _yaml(machine, args["bootstrap-kubeconfig"])
        token = str(kubeconfig["users"][0]["user"]["token"])
        if self.cluster is None:
            raise ScriptError("kubelet: no control plane to bootstrap against")
        try:
            self.cluster.check_bootstrap_token(token)
        except ModelError as exc:
            raise ScriptError(f"kubelet: TLS bootstrap failed: {exc}") from None
        self._register(machine, args["hostname-override"], config)
        node_conf = {
            "apiVersion": "v1",
            "kind": "Config",
            "users": [
                {
                    "name": "default-auth",
                    "user": {"client-certificate": "C:\\var\\lib\\kubelet\\pki\\kubelet-client-current.pem"},
                }
            ],
        }
        machine.write_file(args["kubeconfig"], yaml.safe_dump(node_conf).encode())
        machine.write_file(
            args["cert-dir"] + "\\kubelet-client-current.pem", b"simulated client certificate\n"
        )

    def _register(self, machine: WindowsMachine, node: str, config: dict[str, Any]) -> None:
        assert self.cluster is not None
        labels = {
            "kubernetes.io/os": "windows",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": node,
            "node.kubernetes.io/windows-build": machine.version,
        }
        taints = [dict(t) for t in config.get("registerWithTaints") or []]
        try:
            self.cluster.register({"name": node, "labels": labels, "taints": taints, "os": "windows"})
        except ModelError as exc:
            raise ScriptError(f"kubelet: registering Node {node} failed: {exc}") from None

    def _kube_proxy(self, machine: WindowsMachine, parameters: dict[str, Any]) -> None:
        argv = split_command_line(str(parameters.get("AppParameters", "")))
        self._judge(machine, "kube-proxy-args", "kube-proxy service AppParameters", argv=argv)
        args = flags(argv)
        config = _yaml(machine, args.get("config", ""))
        self._judge(machine, "kube-proxy-config", args["config"], _read(machine, args["config"]))
        if config.get("kind") != "KubeProxyConfiguration" or config.get("mode") != "kernelspace":
            raise ScriptError("kube-proxy: expected a KubeProxyConfiguration with mode kernelspace")
        network = (config.get("winkernel") or {}).get("networkName")
        if network not in machine.hns_networks:
            raise ScriptError(f"kube-proxy: Unable to find HNS Network specified by {network}")
        overlay = str(machine.hns_networks[network]["type"]).lower() == "overlay"
        if overlay and not (config.get("winkernel") or {}).get("sourceVip"):
            # winkernel proxier.go NewProxier: an Overlay network needs the source VIP.
            raise ScriptError("kube-proxy: source-vip flag not set")
        if config.get("hostnameOverride") != machine.hostname.lower():
            raise ScriptError("kube-proxy: hostnameOverride is not the node name")
        kubeconfig = _yaml(machine, config["clientConnection"]["kubeconfig"])
        token = str(kubeconfig["users"][0]["user"]["token"])
        if self.agents is not None:
            self.agents.start(machine, "kube-proxy", argv)
        elif self.cluster is not None:
            try:
                owner = self.cluster.check_sa_token(token)
            except ModelError as exc:
                raise ScriptError(f"kube-proxy: {exc}") from None
            if owner != "kube-system/kube-proxy":
                raise ScriptError(f"kube-proxy: the token belongs to {owner}, not kube-system/kube-proxy")

    def _flanneld(self, machine: WindowsMachine, parameters: dict[str, Any]) -> None:
        argv = split_command_line(str(parameters.get("AppParameters", "")))
        if self.agents is not None:
            self.agents.start(machine, "flanneld", argv)
        elif self.cluster is not None:
            flanneld.start(machine, parameters, argv, self.cluster)
        else:
            raise ScriptError("flanneld: no control plane to take a lease from")


def dependents(machine: WindowsMachine, name: str) -> list[str]:
    """Services that depend on ``name``, directly or through others (``DependentServices``)."""
    found: list[str] = []
    for other, service in machine.services.items():
        if name in service.depends_on and other not in found:
            found += [other, *[d for d in dependents(machine, other) if d not in found]]
    return found


def _check_kubelet_config(config: dict[str, Any]) -> None:
    if config.get("kind") != "KubeletConfiguration":
        raise ScriptError("kubelet: --config is not a KubeletConfiguration")
    wanted = {
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "resolvConf": "",
        "containerRuntimeEndpoint": NPIPE,
    }
    for key, value in wanted.items():
        if config.get(key) != value:
            raise ScriptError(f"kubelet: {key} is {config.get(key)!r}; Windows needs {value!r}")


def _cni_section(config: dict[str, Any]) -> dict[str, Any]:
    plugins = config.get("plugins") or {}
    section = (plugins.get("io.containerd.cri.v1.runtime") or {}).get("cni")
    if section is None:
        section = (plugins.get("io.containerd.grpc.v1.cri") or {}).get("cni")
    if section is None:
        raise ScriptError("containerd (simulated): config.toml has no CRI cni section")
    return dict(section)


def _read(machine: WindowsMachine, path: str) -> str:
    try:
        return machine.read_file(path).decode("utf-8")
    except FileNotFoundError:
        raise ScriptError(f"{path} does not exist") from None


def _yaml(machine: WindowsMachine, path: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(_read(machine, path))
    except yaml.YAMLError as exc:
        raise ScriptError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ScriptError(f"{path}: not a YAML mapping")
    return loaded


def agent_context(ctx: ScriptContext) -> KubeSide:
    """The KubeSide registered with the host (``ctx.host.kube``)."""
    side = getattr(ctx.host, "kube", None)
    return side if isinstance(side, KubeSide) else KubeSide(None)
