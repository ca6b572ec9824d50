"""Judge a cluster's health from what the API and the hosts said (``hybridctl status``); no I/O here.

Inputs are the records of the ``cluster-status`` and ``host-status`` probes; the output is a typed
``StatusReport``: per node what the cluster and the host report, for the cluster its endpoint, version,
readiness and RuntimeClasses, and every problem (unhealthy) and warning (worth knowing, still healthy).
Version skew follows the Kubernetes policy: kubelet and kube-proxy never newer than the API server and at
most three minor versions older.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic.alias_generators import to_camel

from hybridctl.inventory.models import Cluster, Host
from hybridctl.render import RuntimeValues
from hybridctl.render.cluster import runtime_classes
from hybridctl.render.placeholders import is_placeholder
from hybridctl.steps.host_status import version_in
from hybridctl.steps.kube import api_endpoint, is_ready
from hybridctl.versions import KUBELET_SKEW, KubeVersion


@dataclass(frozen=True)
class Finding:
    """One problem or warning, about a node or the cluster (``subject``)."""

    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


@dataclass
class NodeReport:
    """One inventory host as the cluster and its host see it (None: not known)."""

    name: str
    os: str
    registered: bool = False
    reachable: bool = True
    ready: bool | None = None
    ready_message: str = ""
    kubelet: str | None = None
    kubelet_on_host: str | None = None
    kube_proxy: str | None = None
    containerd: str | None = None
    containerd_on_host: str | None = None
    os_image: str = ""
    build: str = ""
    pod_cidr: str | None = None
    taints: list[str] = field(default_factory=list)
    runtime_classes: list[str] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)


@dataclass
class StatusReport:
    """The whole answer of ``hybridctl status``."""

    cluster: str
    endpoint: str
    server_version: str | None
    readyz: str | None
    runtime_classes: list[str]
    nodes: list[NodeReport]
    problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """No problems (warnings do not count)."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The ``status`` document of ``--output json``."""
        document: dict[str, Any] = _camel(asdict(self))
        document["healthy"] = self.healthy
        return document


def _camel(value: Any) -> Any:
    """JSON keys the project's way: ``pod_cidr`` -> ``podCidr`` (names with dashes stay as they are)."""
    if isinstance(value, dict):
        return {to_camel(str(k)) if "_" in str(k) else k: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def evaluate(
    cluster: Cluster,
    api: Mapping[str, Any] | None,
    hosts: Mapping[str, Mapping[str, Any] | None],
    unreachable: Mapping[str, str],
) -> StatusReport:
    """The report for ``cluster`` from the API's record (None: not read) and each host's record."""
    data = api or {}
    report = StatusReport(
        cluster.name,
        api_endpoint(cluster),
        _plain(data.get("serverVersion")),
        data.get("readyz"),
        sorted(str(rc["metadata"]["name"]) for rc in data.get("runtimeClasses", [])),
        [],
    )
    _judge_api(report, cluster, api, unreachable)
    objects = {str(n["metadata"]["name"]): n for n in data.get("nodes", [])}
    for host in cluster.hosts:
        node = _node(host, objects.get(host.name), hosts.get(host.name), data)
        node.reachable = host.name not in unreachable
        report.nodes.append(node)
        _judge_node(
            report, cluster, node, unreachable.get(host.name), initialised=bool(data.get("initialised"))
        )
    return report


def _plain(version: object) -> str | None:
    return version_in(str(version)) if version else None


def _judge_api(
    report: StatusReport, cluster: Cluster, api: Mapping[str, Any] | None, unreachable: Mapping[str, str]
) -> None:
    first = cluster.first_control_plane.name
    if api is None:
        reason = unreachable.get(first, "the API could not be read")
        report.problems.append(Finding("cluster", f"not inspected: {reason}"))
        return
    if not api.get("initialised"):
        report.problems.append(Finding("cluster", f"no cluster: kubeadm init has not run on {first}"))
        return
    if report.readyz != "ok":
        report.problems.append(Finding("cluster", f"the API server is not ready: {report.readyz}"))
    for missing in sorted(set(_expected_classes(cluster)) - set(report.runtime_classes)):
        report.problems.append(
            Finding("cluster", f"RuntimeClass {missing} is missing (hybridctl up adds it)")
        )


def _expected_classes(cluster: Cluster) -> list[str]:
    """The RuntimeClasses ``up`` installs, as far as the inventory alone names them."""
    specs = runtime_classes(cluster, RuntimeValues())
    return [s.name for s in specs if not is_placeholder(s.name)]


def _node(
    host: Host, node: Mapping[str, Any] | None, probed: Mapping[str, Any] | None, api: Mapping[str, Any]
) -> NodeReport:
    report = NodeReport(host.name, host.os)
    if node is not None:
        _from_cluster(report, node, api)
    if probed is not None:
        _from_host(report, probed)
    return report


def _from_cluster(report: NodeReport, node: Mapping[str, Any], api: Mapping[str, Any]) -> None:
    info = node.get("status", {}).get("nodeInfo", {})
    spec, labels = node.get("spec", {}), node.get("metadata", {}).get("labels", {})
    report.registered = True
    report.ready = is_ready(dict(node))
    report.ready_message = _ready_message(node)
    report.kubelet = _plain(info.get("kubeletVersion"))
    report.containerd = _plain(info.get("containerRuntimeVersion"))
    report.os_image = str(info.get("osImage", ""))
    report.pod_cidr = spec.get("podCIDR")
    report.taints = [_taint(t) for t in spec.get("taints", [])]
    report.runtime_classes = [
        str(rc["metadata"]["name"]) for rc in api.get("runtimeClasses", []) if _selects(rc, labels)
    ]
    if report.os == "linux":
        report.kube_proxy = _plain(api.get("kubeProxyImage"))


def _ready_message(node: Mapping[str, Any]) -> str:
    for condition in node.get("status", {}).get("conditions", []):
        if condition.get("type") == "Ready":
            return f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(": ")
    return "no Ready condition reported"


def _taint(taint: Mapping[str, Any]) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"


def _selects(runtime_class: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    selector = (runtime_class.get("scheduling") or {}).get("nodeSelector") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def _from_host(report: NodeReport, probed: Mapping[str, Any]) -> None:
    versions = probed.get("versions", {})
    report.kubelet_on_host = versions.get("kubelet")
    report.containerd_on_host = versions.get("containerd")
    if report.os == "windows":
        report.kube_proxy = versions.get("kube-proxy")
    report.build = str(probed.get("build", ""))
    report.os_image = report.os_image or str(probed.get("os", ""))
    report.services = dict(probed.get("services", {}))


def _judge_node(
    report: StatusReport, cluster: Cluster, node: NodeReport, unreachable: str | None, *, initialised: bool
) -> None:
    problems, name = report.problems, node.name
    if unreachable is not None:
        problems.append(Finding(name, f"host not inspected: {unreachable}"))
    if initialised and not node.registered:
        problems.append(Finding(name, "no Node object: the host has not joined the cluster"))
    if node.registered and not node.ready:
        problems.append(Finding(name, f"NotReady: {node.ready_message}"))
    for service, state in node.services.items():
        if state != "active":
            problems.append(Finding(name, f"{service} is {state} on the host"))
    _judge_versions(report, cluster, node)


def _judge_versions(report: StatusReport, cluster: Cluster, node: NodeReport) -> None:
    server = report.server_version
    for component, version in (("kubelet", node.kubelet), ("kube-proxy", node.kube_proxy)):
        message = skew_problem(component, version, server) if server and version else None
        if message:
            report.problems.append(Finding(node.name, message))
    if node.kubelet and node.kubelet_on_host and node.kubelet != node.kubelet_on_host:
        message = f"the kubelet binary is {node.kubelet_on_host}, the running kubelet reports {node.kubelet}"
        report.warnings.append(Finding(node.name, message + " (restart it)"))
    wanted = cluster.spec.kubernetes.version
    running = node.kubelet or node.kubelet_on_host
    if running and running != wanted:
        report.warnings.append(Finding(node.name, f"kubelet {running}; the inventory says {wanted}"))


def skew_problem(component: str, version: str, server: str) -> str | None:
    """Why ``component`` at ``version`` may not run against an API server at ``server`` (None: it may)."""
    try:
        mine, api = KubeVersion.parse(version), KubeVersion.parse(server)
    except ValueError:
        return None
    if (mine.major, mine.minor) > (api.major, api.minor):
        return f"version skew: {component} {mine} is newer than the API server {api}"
    if api.major == mine.major and api.minor - mine.minor > KUBELET_SKEW:
        return (
            f"version skew: {component} {mine} is more than {KUBELET_SKEW} minor versions older "
            f"than the API server {api}"
        )
    return None
