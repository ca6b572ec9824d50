"""``support-bundle``: one tar.gz with what support needs from every host and the cluster, secrets masked.

Read-only on every host. Hosts that cannot be reached are named in the bundle and in the output; the rest
is still collected and written (exit 4 then, 1 when a collection step failed, 0 when complete).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hybridctl.appenv import AppEnv
from hybridctl.bundle import Bundle, add_state, default_path, refuse_existing, write
from hybridctl.events import Event, JsonLines, Outcome
from hybridctl.runner import RunReport
from hybridctl.session import RunSettings, Session, exit_code_of
from hybridctl.steps.cluster.cluster_diagnostics import CLUSTER, CollectCluster
from hybridctl.steps.diagnostics import CollectConfig, CollectLogs, CollectNetwork, bundle_key
from hybridctl.verbs.common import load_cluster

NOT_COMPLETE = (Outcome.FAILED, Outcome.UNREACHABLE, Outcome.SKIPPED)


def run_support_bundle(env: AppEnv, settings: RunSettings, out: Path | None) -> int:
    """Collect from every host and the cluster, write the archive, say what is in it and what is missing."""
    cluster = load_cluster(env)
    path = out if out is not None else default_path(cluster.name)
    refuse_existing(path)
    settings = dataclasses.replace(settings, continue_on_error=True)  # one broken host must not stop it
    with Session(env, cluster, settings, "support-bundle", exclusive=False) as session:
        steps = [CollectCluster(), CollectLogs(), CollectConfig(), CollectNetwork()]
        report = session.run(cluster.hosts, steps, read_only=True, verb="support-bundle")
        bundle = _bundle(cluster.name, [h.name for h in cluster.hosts], session, report)
        add_state(bundle, session.state_dir.root, env.inventory_path())
        size = write(bundle, path, session.masker)
        _show(env, session, bundle, path, size)
    return exit_code_of(report)


def _bundle(name: str, hosts: list[str], session: Session, report: RunReport) -> Bundle:
    bundle = Bundle(name)
    state = session.run_state
    for host in hosts:
        bundle.add(f"hosts/{host}", state.get(bundle_key(host)) or {})
        bundle.hosts[host] = _status(report, host, exclude="collect-cluster")
    bundle.add(CLUSTER, state.get(bundle_key(CLUSTER)) or {})
    bundle.hosts[CLUSTER] = _status(report, None, only="collect-cluster")
    for folder, status in bundle.hosts.items():
        if status != "complete":
            key = f"{'hosts/' + folder if folder != CLUSTER else CLUSTER}/NOT-COLLECTED.txt"
            bundle.files[key] = status + "\n"
    return bundle


def _status(report: RunReport, host: str | None, *, exclude: str = "", only: str = "") -> str:
    """``complete``, or each step that did not finish on the host with its reason."""
    missing = [
        f"{r.step}: {r.outcome.value}: {r.error}"
        for r in report.results
        if (host is None or r.host == host)
        and (not only or r.step == only)
        and r.step != exclude
        and r.outcome in NOT_COMPLETE
    ]
    return "complete" if not missing else "partial: " + "; ".join(missing)


def _show(env: AppEnv, session: Session, bundle: Bundle, path: Path, size: int) -> None:
    if env.json:
        data = {"path": str(path), "bytes": size, "complete": bundle.complete, "hosts": bundle.hosts}
        JsonLines(env.stdout, session.masker).emit(Event("support-bundle", data))
        return
    state = "complete" if bundle.complete else "PARTIAL"
    env.stdout.write(
        f"wrote {path} ({len(bundle.files)} files, {size / 1024:.0f} kB, {state}; secrets masked)\n"
    )
    for host, status in bundle.hosts.items():
        if status != "complete":
            env.stdout.write(session.masker.mask(f"  {host}: {status}\n"))
