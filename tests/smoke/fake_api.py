"""A fake API behind ``kubectl`` on a fake control plane, for the unit tests of ``hybridctl smoke``.

Emulated (unit tier, nothing real): the objects kubectl returns and what ``kubectl exec ... agnhost connect``
answers. It places DaemonSet pods the way the scheduler would from the rendered objects (Linux: the
``kubernetes.io/os`` nodeSelector; Windows: the RuntimeClass's nodeSelector on the build label), so the
tests check hybridctl's logic (which checks run, verdicts, JUnit, exit codes, cleanup), never the data
path. The real data path is the lab's job (tests/lab/real).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from hybridctl.commands import Command, PosixCommand

Connect = Callable[[str, str], tuple[int, str]]
"""(source pod name, target) -> (exit code, stderr) of ``agnhost connect``."""


def node(
    name: str, os_name: str, *, build: str | None = None, ready: bool = True, version: str = "v1.37.2"
) -> dict[str, Any]:
    labels = {"kubernetes.io/os": os_name}
    taints = [{"key": "os", "value": "windows", "effect": "NoSchedule"}] if os_name == "windows" else []
    if build:
        labels["node.kubernetes.io/windows-build"] = build
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady"}
            ],
            "nodeInfo": {"kubeletVersion": version, "containerRuntimeVersion": "containerd://2.4.2"},
        },
    }


def runtime_class(name: str, handler: str, build: str) -> dict[str, Any]:
    selector = {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": build}
    return {"metadata": {"name": name}, "handler": handler, "scheduling": {"nodeSelector": selector}}


@dataclass
class FakeApi:
    """Objects by kind, and a log of the kubectl calls that change something."""

    nodes: list[dict[str, Any]]
    runtime_classes: list[dict[str, Any]]
    connect: Connect = lambda source, target: (0, "")
    readyz: tuple[int, str, str] = (0, "ok", "")
    logs: str = "GET /readyz\n"
    daemonsets: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    endpoint_slices: list[dict[str, Any]] = field(default_factory=list)
    changes: list[tuple[str, ...]] = field(default_factory=list)
    connects: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, command: Command, timeout: float | None) -> tuple[int, str, str]:
        assert isinstance(command, PosixCommand)
        args = command.argv[3:]  # kubectl --kubeconfig /etc/kubernetes/admin.conf ARGS
        if args[:2] == ("get", "--raw"):
            return self.readyz
        if args[:2] == ("get", "namespace"):
            return 0, "", ""  # --ignore-not-found: the fake deletes a namespace at once
        if args[0] == "get":
            return 0, json.dumps({"items": self._get(args)}), ""
        if args[0] == "apply":
            self._apply(command.stdin or b"")
        elif args[0] == "exec":
            return self._exec(args)
        elif args[0] == "logs":
            return 0, self.logs, ""
        self.changes.append(args)
        return 0, "", ""

    def _get(self, args: tuple[str, ...]) -> list[dict[str, Any]]:
        kind = args[1]
        if kind == "nodes":
            return self.nodes
        if kind == "runtimeclasses":
            return self.runtime_classes
        if kind in ("services", "endpointslices"):
            return self._labelled(self.services if kind == "services" else self.endpoint_slices, args)
        if kind == "pods" and "kube-system" in args:
            linux = [
                n["metadata"]["name"]
                for n in self.nodes
                if n["metadata"]["labels"]["kubernetes.io/os"] == "linux"
            ]
            return [_pod(f"{args[-3].split('=')[1]}-{n}", n, {}) for n in linux]
        if kind == "pods":
            return [p for ds in self.daemonsets for p in self._pods(ds)]
        return []  # events

    @staticmethod
    def _labelled(objects: list[dict[str, Any]], args: tuple[str, ...]) -> list[dict[str, Any]]:
        """``objects``, narrowed by ``-l KEY=VALUE`` when given."""
        if "-l" not in args:
            return objects
        key, value = args[args.index("-l") + 1].split("=")
        return [o for o in objects if o["metadata"].get("labels", {}).get(key) == value]

    def _apply(self, stdin: bytes) -> None:
        for doc in yaml.safe_load_all(stdin):
            if doc["kind"] == "DaemonSet":
                self.daemonsets.append(doc)
            elif doc["kind"] == "Service":
                nodeport = doc["spec"]["type"] == "NodePort"
                port = {
                    **doc["spec"]["ports"][0],
                    **({"nodePort": 30000 + len(self.services)} if nodeport else {}),
                }
                spec = {**doc["spec"], "clusterIP": f"10.96.0.{10 + len(self.services)}", "ports": [port]}
                self.services.append({**doc, "spec": spec})

    def _pods(self, daemonset: dict[str, Any]) -> list[dict[str, Any]]:
        spec = daemonset["spec"]["template"]["spec"]
        labels = daemonset["spec"]["template"]["metadata"]["labels"]
        selector = spec.get("nodeSelector") or {}
        if "runtimeClassName" in spec:
            klass = next(c for c in self.runtime_classes if c["metadata"]["name"] == spec["runtimeClassName"])
            selector = klass["scheduling"]["nodeSelector"]
        chosen = [
            n for n in self.nodes if all(n["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        name = daemonset["metadata"]["name"]
        return [_pod(f"{name}-{n['metadata']['name']}", n["metadata"]["name"], labels) for n in chosen]

    def _exec(self, args: tuple[str, ...]) -> tuple[int, str, str]:
        pod, target = args[3], args[args.index("connect") + 1]
        self.connects.append((pod, target))
        code, err = self.connect(pod, target)
        return code, "", err + ("\ncommand terminated with exit code 1" if code else "")


def _pod(name: str, node_name: str, labels: dict[str, str]) -> dict[str, Any]:
    index = sum(map(ord, name)) % 200 + 2
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": node_name},
        "status": {
            "phase": "Running",
            "podIP": f"10.244.{index}.5",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
