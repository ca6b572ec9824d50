"""``cluster-status``: the cluster as its API reports it, for ``hybridctl status`` (read-only, kubectl).

Reads, through kubectl on the first control plane: the API server's version and ``/readyz``, every Node,
every RuntimeClass and the kube-proxy DaemonSet's image (the Linux nodes' kube-proxy version).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from hybridctl.steps import kube
from hybridctl.steps.base import Change
from hybridctl.steps.cluster.common import ClusterStep
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import CommandFailedError, HostHandle, HostView

CLUSTER_STATUS = "status/cluster"
"""RunState key of what ``cluster-status`` read."""


class ClusterStatus(ClusterStep):
    """Read the cluster's objects; records them in the run state, changes nothing."""

    name: ClassVar[str] = "cluster-status"
    title: ClassVar[str] = "read nodes, RuntimeClasses and versions from the API"
    timeout: ClassVar[float] = 120.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Probe and record; never a change."""
        ctx.state.set(CLUSTER_STATUS, read_cluster(host))
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing to apply."""


def read_cluster(host: HostView) -> dict[str, Any]:
    """What the API says; ``initialised`` False when kubeadm init never ran on ``host``."""
    if not kube.initialised(host):
        return {"initialised": False}
    readyz = kube.kubectl(host, "get", "--raw", "/readyz", check=False)
    return {
        "initialised": True,
        "readyz": readyz.stdout.strip() if readyz.ok else (readyz.stderr.strip() or "not ready"),
        "serverVersion": _server_version(host),
        "nodes": kube.kubectl_json(host, "get", "nodes")["items"],
        "runtimeClasses": kube.kubectl_json(host, "get", "runtimeclasses")["items"],
        "kubeProxyImage": _kube_proxy_image(host),
    }


def _server_version(host: HostView) -> str | None:
    try:
        return str(kube.server_version(host))
    except (CommandFailedError, ValueError, KeyError):
        return None  # reported as unknown: the API's readiness says why


def _kube_proxy_image(host: HostView) -> str | None:
    args = ("get", "daemonset", "kube-proxy", "-n", "kube-system", "--ignore-not-found", "-o", "json")
    out = kube.kubectl(host, *args).stdout.strip()
    if not out:
        return None
    containers = json.loads(out).get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    return str(containers[0].get("image", "")) if containers else None
