"""``status``: per node and for the cluster, what the API and the hosts report; non-zero when unhealthy.

Everything is read-only: kubectl reads on the first control plane and probes on every host. The verdict
(problems, warnings, version skew) comes from ``hybridctl.health``; this module runs the probes and shows
the report as a table or as one JSON event.
"""

from __future__ import annotations

import dataclasses

from hybridctl.appenv import AppEnv
from hybridctl.errors import ExitCode
from hybridctl.events import Event, JsonLines, Outcome
from hybridctl.health import NodeReport, StatusReport, evaluate
from hybridctl.inventory.models import Cluster
from hybridctl.runner import RunReport
from hybridctl.session import RunSettings, Session
from hybridctl.steps.cluster.cluster_status import CLUSTER_STATUS, ClusterStatus
from hybridctl.steps.host_status import HostStatus, host_status_key
from hybridctl.verbs.common import load_cluster

UNHEALTHY_OUTCOMES = (Outcome.FAILED, Outcome.UNREACHABLE, Outcome.SKIPPED)


def run_status(env: AppEnv, settings: RunSettings) -> int:
    """Probe the cluster and every host; show the report; exit 0 (healthy), 6 (unhealthy) or 130."""
    cluster = load_cluster(env)
    # a host that cannot be inspected is a finding of the report, never a reason to stop looking
    settings = dataclasses.replace(settings, continue_on_error=True)
    with Session(env, cluster, settings, "status", exclusive=False) as session:
        probes = [ClusterStatus(), HostStatus()]
        run = session.run(cluster.hosts, probes, read_only=True, verb="status")
        report = _report(cluster, session, run)
        if env.json:
            JsonLines(env.stdout, session.masker).emit(Event("status", report.to_json()))
        else:
            _print(env, report)
    if run.interrupted:
        return ExitCode.INTERRUPTED
    return ExitCode.OK if report.healthy else ExitCode.UNHEALTHY


def _report(cluster: Cluster, session: Session, run: RunReport) -> StatusReport:
    state = session.run_state
    failed = {r.host: f"{r.outcome.value}: {r.error}" for r in run.results if r.outcome in UNHEALTHY_OUTCOMES}
    hosts = {h.name: state.get(host_status_key(h.name)) for h in cluster.hosts}
    return evaluate(cluster, state.get(CLUSTER_STATUS), hosts, failed)


def _print(env: AppEnv, report: StatusReport) -> None:
    from rich.table import Table

    table = Table(title=f"cluster {report.cluster}", box=None)
    for column in ("node", "ready", "kubelet", "kube-proxy", "containerd", "os / build", "pod CIDR"):
        table.add_column(column)
    table.add_column("runtime classes")
    table.add_column("taints")
    for node in report.nodes:
        table.add_row(*_row(node))
    env.out.print(table)
    env.out.print(_cluster_line(report), markup=False)
    for finding in report.warnings:
        env.out.print(f"warning: {finding}", markup=False)
    for finding in report.problems:
        env.out.print(f"[bold red]problem[/]: {finding}", highlight=False)
    verdict = "[green]healthy[/]" if report.healthy else f"[bold red]unhealthy[/] ({len(report.problems)})"
    env.out.print(verdict)


def _row(node: NodeReport) -> list[str]:
    return [
        node.name,
        _ready(node),
        _pair(node.kubelet, node.kubelet_on_host),
        node.kube_proxy or "-",
        _pair(node.containerd, node.containerd_on_host),
        " / ".join(part for part in (node.os_image, node.build) if part) or "-",
        node.pod_cidr or "-",
        ", ".join(node.runtime_classes) or "-",
        ", ".join(node.taints) or "-",
    ]


def _ready(node: NodeReport) -> str:
    if not node.reachable and not node.registered:
        return "[bold magenta]unreachable[/]"
    if not node.registered:
        return "[bold red]not joined[/]"
    return "[green]Ready[/]" if node.ready else "[bold red]NotReady[/]"


def _pair(cluster_side: str | None, host_side: str | None) -> str:
    """One version when both sides agree, else ``api / host``."""
    if cluster_side == host_side or host_side is None:
        return cluster_side or "-"
    return f"{cluster_side or '-'} / host {host_side}"


def _cluster_line(report: StatusReport) -> str:
    parts = [
        f"endpoint {report.endpoint}",
        f"API server {report.server_version or 'unknown'}",
        f"readyz {report.readyz or 'unknown'}",
        "RuntimeClasses " + (", ".join(report.runtime_classes) or "none"),
    ]
    return "; ".join(parts)
