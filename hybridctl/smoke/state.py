"""What one smoke run knows while its checks run: the cluster, the live nodes, the pods, the deadline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hybridctl.inventory.models import Cluster, Host
from hybridctl.render.context import windows_build
from hybridctl.render.values import RuntimeValues
from hybridctl.smoke.kubectl import ClusterAccess, Pod
from hybridctl.smoke.report import CheckFailedError, SmokeReport
from hybridctl.smoke.workloads import LINUX_CLASS, Workload, workloads

BUILD_LABEL = "node.kubernetes.io/windows-build"


@dataclass(frozen=True)
class SmokeOptions:
    """The command line of ``hybridctl smoke``."""

    image: str
    timeout: float = 600.0
    keep: bool = False
    egress_target: str | None = None


@dataclass
class SmokeRun:
    """Shared by the checks of one run."""

    cluster: Cluster
    access: ClusterAccess
    report: SmokeReport
    options: SmokeOptions
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: list[Pod] = field(default_factory=list)
    deadline: float = 0.0

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.options.timeout

    @property
    def values(self) -> RuntimeValues:
        """Runtime values from the live nodes: the Windows builds of hosts without ``windowsVersion``."""
        builds = {
            name: node["metadata"].get("labels", {}).get(BUILD_LABEL) for name, node in self.nodes.items()
        }
        known = {h.name: builds[h.name] for h in self.cluster.windows_hosts if builds.get(h.name)}
        return RuntimeValues(windows_builds=known)

    @property
    def workloads(self) -> list[Workload]:
        """The DaemonSets of this cluster."""
        return workloads(self.cluster, self.values)

    def expected_hosts(self, workload: Workload) -> list[Host]:
        """The hosts a workload's pods must run on: every node of its OS (Windows: of its build)."""
        if workload.os == "linux":
            return list(self.cluster.linux_hosts)
        values = self.values
        return [h for h in self.cluster.windows_hosts if windows_build(h, values) == workload.build]

    def main_pod(self, node: str) -> Pod | None:
        """The node's pod of the Linux DaemonSet or of the process-isolation RuntimeClass."""
        for pod in self.pods:
            if pod.node == node and (pod.klass == LINUX_CLASS or "hyperv" not in pod.klass):
                return pod
        return None

    def require_time(self) -> None:
        """CheckFailedError once ``--timeout`` is used up."""
        if time.monotonic() > self.deadline:
            raise CheckFailedError(
                f"not run: the smoke test's --timeout ({self.options.timeout:.0f} s) was used up"
            )

    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return max(0.0, self.deadline - time.monotonic())
