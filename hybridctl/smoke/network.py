"""Data-path checks, each a TCP handshake made from inside a smoke pod (``agnhost connect``).

Pod to pod for every ordered pair of nodes; localhost between the two containers of every pod; the
ClusterIP and NodePort Services of one OS from the pods of the other; a Service name resolved by each OS's
pods; egress to ``--egress-target``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from hybridctl.inventory.models import Host
from hybridctl.smoke.kubectl import Pod
from hybridctl.smoke.report import CheckFailedError, CheckSkippedError
from hybridctl.smoke.state import SmokeRun
from hybridctl.smoke.workloads import NAMESPACE, SERVER_PORT, SERVICE_PORT
from hybridctl.transport.base import Result

ATTEMPTS = 3  # a path is judged after 3 handshakes, 2 s apart (kube-proxy may still be programming it)
PAUSE = 2.0
RESOLVED = ("TIMEOUT", "REFUSED", "OTHER")
"""agnhost connect's error prefixes after the name resolved (connect.go: DNS and UNKNOWN come before)."""


def connect(run: SmokeRun, pod: Pod | None, target: str, node: str, *, peer: Pod | None = None) -> None:
    """Pass when ``pod`` completes a handshake with ``target``; else fail with both pods' evidence."""
    run.require_time()
    if pod is None:
        raise CheckFailedError(
            f"no ready smoke pod on {node} to connect from", run.access.evidence(None, node)
        )
    result = _attempts(run, pod, target)
    if not result.ok:
        why = reason(result)
        evidence = [f"{pod.name} -> {target}: {why}", run.access.evidence(pod)]
        if peer is not None:
            evidence.append(run.access.evidence(peer))
        raise CheckFailedError(f"{pod.node} -> {target}: {why}", "\n".join(evidence))


def _attempts(run: SmokeRun, pod: Pod, target: str) -> Result:
    result = run.access.connect(pod, target)
    for _ in range(ATTEMPTS - 1):
        if result.ok or run.remaining() < PAUSE:
            break
        time.sleep(PAUSE)
        result = run.access.connect(pod, target)
    return result


def reason(result: Result) -> str:
    """Why ``agnhost connect`` failed: its own error line, else the first line kubectl printed."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    agnhost = [line for line in lines if line.split(":", 1)[0].strip() in (*RESOLVED, "DNS", "UNKNOWN")]
    return (agnhost or lines or [f"exit {result.exit_code}"])[0].strip()


def check_pod_to_pod(run: SmokeRun) -> None:
    """TCP from the pod on each node to the pod on every other node (both directions, every OS pair)."""
    names = [h.name for h in run.cluster.hosts]
    for source in names:
        for target in names:
            if source != target:
                with run.report.check("pod-to-pod", f"{source} -> {target}"):
                    _pod_to_pod(run, source, target)


def _pod_to_pod(run: SmokeRun, source: str, target: str) -> None:
    peer = run.main_pod(target)
    if peer is None or not peer.ip:
        raise CheckFailedError(
            f"no ready smoke pod on {target} to connect to", run.access.evidence(peer, target)
        )
    connect(run, run.main_pod(source), f"{peer.ip}:{SERVER_PORT}", source, peer=peer)


def check_localhost(run: SmokeRun) -> None:
    """In every smoke pod the ``peer`` container reaches the ``server`` container on 127.0.0.1."""
    for pod in run.pods:
        with run.report.check("localhost", f"{pod.node} {pod.klass}"):
            connect(run, pod, f"127.0.0.1:{SERVER_PORT}", pod.node)


def check_services(run: SmokeRun) -> None:
    """Each OS's ClusterIP and NodePort Services from every pod of the other OS (a Linux-only cluster:
    the Linux Services from the Linux pods)."""
    services = {s["metadata"]["name"]: s for s in run.access.items("services", "-n", NAMESPACE)}
    linux, windows = run.cluster.linux_hosts, run.cluster.windows_hosts
    pairs = (("windows", linux), ("linux", windows)) if windows else (("linux", linux),)
    for backend, clients in pairs:
        _cluster_ip(run, services.get(f"smoke-{backend}"), backend, clients)
        _node_ports(run, services.get(f"smoke-{backend}-nodeport"), backend, clients)


def _cluster_ip(
    run: SmokeRun, service: dict[str, object] | None, backend: str, clients: Iterable[Host]
) -> None:
    for client in clients:
        with run.report.check("service-clusterip", f"{client.name} -> smoke-{backend}"):
            address = _spec(service).get("clusterIP")
            if not address:
                raise CheckFailedError(
                    f"Service smoke-{backend} has no ClusterIP", run.access.events(f"smoke-{backend}")
                )
            to_service(run, f"smoke-{backend}", client.name, f"{address}:{SERVICE_PORT}")


def _node_ports(
    run: SmokeRun, service: dict[str, object] | None, backend: str, clients: Iterable[Host]
) -> None:
    ports = _spec(service).get("ports") or []
    port = ports[0].get("nodePort") if ports else None
    targets = [h for h in run.cluster.hosts if h.os == backend]
    for client in clients:
        for target in targets:
            with run.report.check("service-nodeport", f"{client.name} -> {target.name}:{port}"):
                if not port:
                    raise CheckFailedError(f"Service smoke-{backend}-nodeport has no nodePort")
                to_service(run, f"smoke-{backend}", client.name, f"{target.address}:{port}")


def to_service(run: SmokeRun, service: str, client: str, target: str) -> None:
    """``connect`` from ``client``'s pod to one of ``service``'s addresses; a failure also shows the
    Service's endpoints, and says so first when none is ready (nothing behind the Service to answer)."""
    try:
        connect(run, run.main_pod(client), target, client)
    except CheckFailedError as failed:
        ready, endpoints = run.access.endpoints(service)
        message = (
            f"Service {service} has no ready endpoints; {failed.message}" if ready == 0 else failed.message
        )
        raise CheckFailedError(message, f"{endpoints}\n{failed.evidence}") from failed


def _spec(service: dict[str, object] | None) -> dict[str, Any]:
    spec = (service or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def check_dns(run: SmokeRun) -> None:
    """A Service name resolves from the pod on every node (the other OS's Service, through cluster DNS)."""
    domain = run.cluster.spec.kubernetes.dns_domain
    for host in run.cluster.hosts:
        other = "linux" if host.is_windows or not run.cluster.windows_hosts else "windows"
        name = f"smoke-{other}.{NAMESPACE}.svc.{domain}"
        with run.report.check("dns", f"{host.name} resolves {name}"):
            _resolve(run, run.main_pod(host.name), name, host.name)


def _resolve(run: SmokeRun, pod: Pod | None, name: str, node: str) -> None:
    run.require_time()
    if pod is None:
        raise CheckFailedError(f"no ready smoke pod on {node}", run.access.evidence(None, node))
    result = _attempts(run, pod, f"{name}:{SERVICE_PORT}")
    if resolved(result):
        return
    why = reason(result)
    raise CheckFailedError(f"{name} from {pod.name}: {why}", f"{why}\n{run.access.evidence(pod)}")


def resolved(result: Result) -> bool:
    """agnhost connect resolves before it dials: success or a later error means the name resolved."""
    return result.ok or reason(result).startswith(RESOLVED)


def check_egress(run: SmokeRun) -> None:
    """A pod of each OS reaches ``--egress-target`` (skipped without one)."""
    for os_name, hosts in (("linux", run.cluster.linux_hosts), ("windows", run.cluster.windows_hosts)):
        if not hosts:
            continue
        target = run.options.egress_target
        with run.report.check("egress", f"{os_name} ({hosts[0].name}) -> {target or '-'}"):
            if not target:
                raise CheckSkippedError("no --egress-target HOST:PORT given")
            connect(run, run.main_pod(hosts[0].name), target, hosts[0].name)
