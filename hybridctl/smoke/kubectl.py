"""The smoke test's view of the cluster: kubectl on the first control plane, as every other verb uses it.

Pods are reached with ``kubectl exec`` from there, so the admin machine needs neither kubectl nor a route
to the API or the pods. Connections are tested from inside a pod with ``agnhost connect HOST:PORT``, as
Kubernetes' own network-policy e2e tests do on Linux and Windows (``test/e2e/network/netpol/kubemanager.go``
``probeConnectivity``: ``/agnhost connect <addr>:<port> --timeout=... --protocol=tcp``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hybridctl.smoke.workloads import NAMESPACE
from hybridctl.steps import kube
from hybridctl.steps.host import HostHandle
from hybridctl.transport.base import Result

CONNECT_TIMEOUT = "5s"  # agnhost connect --timeout: one TCP handshake
COMMAND_TIMEOUT = 60.0  # one kubectl call on the control plane
LOG_LINES = "20"
AGNHOST = "/agnhost"  # where upstream's Linux and Windows images put it (Dockerfile, Dockerfile_windows)


def connect_argv(target: str) -> tuple[str, ...]:
    """What runs inside the pod to test a path: one TCP handshake with ``target`` (HOST:PORT)."""
    return (AGNHOST, "connect", target, f"--timeout={CONNECT_TIMEOUT}", "--protocol=tcp")


@dataclass(frozen=True)
class Pod:
    """A smoke pod as the API reports it."""

    name: str
    node: str
    klass: str
    os: str
    ip: str
    phase: str
    ready: bool

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Pod:
        """From a Pod object."""
        labels = item["metadata"].get("labels", {})
        status = item.get("status", {})
        conditions = status.get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        return cls(
            item["metadata"]["name"],
            item.get("spec", {}).get("nodeName") or "",
            labels.get("hybridctl.io/smoke-class", ""),
            labels.get("hybridctl.io/smoke-os", ""),
            status.get("podIP") or "",
            status.get("phase") or "Unknown",
            ready,
        )


class ClusterAccess:
    """kubectl on the first control plane, with the smoke namespace's helpers."""

    def __init__(self, host: HostHandle) -> None:
        self.host = host

    def run(self, *args: str, stdin: bytes | None = None, check: bool = True) -> Result:
        """``kubectl ARGS``."""
        return kube.kubectl(self.host, *args, stdin=stdin, check=check, timeout=COMMAND_TIMEOUT)

    def json(self, *args: str) -> Any:
        """Parsed ``kubectl ARGS -o json``."""
        return json.loads(self.run(*args, "-o", "json").stdout)

    def items(self, *args: str) -> list[dict[str, Any]]:
        """The ``items`` of a list."""
        found: list[dict[str, Any]] = self.json("get", *args)["items"]
        return found

    def apply(self, manifest: bytes) -> None:
        """``kubectl apply -f -``."""
        self.run("apply", "-f", "-", stdin=manifest)

    def smoke_pods(self) -> list[Pod]:
        """Every pod of the smoke namespace."""
        return [Pod.from_api(item) for item in self.items("pods", "-n", NAMESPACE)]

    def connect(self, pod: Pod, target: str) -> Result:
        """``agnhost connect TARGET`` in the pod's ``peer`` container; exit 0 when the handshake worked."""
        argv = connect_argv(target)
        return self.run("exec", "-n", NAMESPACE, pod.name, "-c", "peer", "--", *argv, check=False)

    def delete_namespace(self) -> Result:
        """Start removing the namespace and everything in it (without waiting: see ``namespace``)."""
        return self.run("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)

    def namespace(self) -> dict[str, Any] | None:
        """The smoke namespace's object (``status.phase`` Terminating while it is deleted), or None."""
        shown = self.run("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "json").stdout
        return json.loads(shown) if shown.strip() else None

    def evidence(self, pod: Pod | None, node: str | None = None) -> str:
        """What explains a failure: the pod's node, phase, events and the last lines of its logs."""
        if pod is None:
            return f"no smoke pod on node {node}" if node else ""
        parts = [f"pod {NAMESPACE}/{pod.name} on node {pod.node}: phase {pod.phase}, ready {pod.ready}"]
        parts.append("events:\n" + self.events(pod.name))
        for container in ("server", "peer"):
            logs = self.run(
                "logs", "-n", NAMESPACE, pod.name, "-c", container, "--tail", LOG_LINES, check=False
            )
            text = logs.stdout.strip() if logs.ok else f"(no log: {logs.stderr.strip()})"
            parts.append(f"last {LOG_LINES} log lines of {container}:\n{text}")
        return "\n".join(parts)

    def endpoints(self, service: str) -> tuple[int, str]:
        """How many endpoints of ``service`` are ready, and a summary of its EndpointSlices (each endpoint not
        ready with its pod and node): a Service whose backends are not ready has nothing to connect to. An
        unset ``conditions.ready`` counts as ready (k8s.io/api discovery/v1 EndpointConditions: "a nil value
        should be interpreted as true"); -1 when the slices cannot be read."""
        selector = f"kubernetes.io/service-name={service}"
        result = self.run("get", "endpointslices", "-n", NAMESPACE, "-l", selector, "-o", "json", check=False)
        if not result.ok:
            return -1, f"(endpoints of Service {service} unavailable: {result.stderr.strip()})"
        slices = json.loads(result.stdout).get("items", [])
        endpoints = [e for s in slices for e in s.get("endpoints") or []]
        waiting = [e for e in endpoints if (e.get("conditions") or {}).get("ready") is False]
        ready = len(endpoints) - len(waiting)
        lines = [f"Service {NAMESPACE}/{service}: {ready} of {len(endpoints)} endpoints ready"]
        lines += [
            f"  not ready: pod {(e.get('targetRef') or {}).get('name', '-')} on node {e.get('nodeName', '-')}"
            f" ({', '.join(e.get('addresses') or [])})"
            for e in waiting
        ]
        return ready, "\n".join(lines)

    def events(self, name: str) -> str:
        """The events of object ``name`` in the smoke namespace, oldest first."""
        selector = f"involvedObject.name={name}"
        result = self.run(
            "get", "events", "-n", NAMESPACE, "--field-selector", selector, "-o", "json", check=False
        )
        if not result.ok:
            return f"(events unavailable: {result.stderr.strip()})"
        items = json.loads(result.stdout).get("items", [])
        lines = [
            f"  {e.get('type', '')} {e.get('reason', '')}: {e.get('message', '').strip()}"
            for e in sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        ]
        return "\n".join(lines) or "  (none)"
