"""Create the smoke workloads (after removing any left by ``--keep``) and wait until they run."""

from __future__ import annotations

import time
from typing import Any

from hybridctl.render.files import RenderedFile
from hybridctl.smoke.kubectl import Pod
from hybridctl.smoke.report import CheckFailedError
from hybridctl.smoke.state import SmokeRun
from hybridctl.smoke.workloads import NAMESPACE, render_smoke
from hybridctl.transport.base import Result

POLL = 2.0
WAIT_SHARE = 0.5  # of --timeout for pods to become ready; the rest is for the checks


def manifests(run: SmokeRun) -> list[RenderedFile]:
    """The rendered objects; a Windows build still unknown fails here with the host it belongs to."""
    files = render_smoke(run.cluster, run.values, run.options.image)
    pending = [f for f in files if f.placeholders]
    if pending:
        names = ", ".join(p for f in pending for p in f.placeholders)
        raise CheckFailedError(
            f"cannot render the smoke workloads: {names} unknown (is every Windows host a node?)"
        )
    return files


def deploy(run: SmokeRun) -> None:
    """Apply the workloads and wait until every expected node has a ready pod of each, or time runs out."""
    with run.report.check("workloads", "deploy"):
        files = manifests(run)
        _clear_earlier_run(run)
        for item in files:
            run.access.apply(item.installable())
        run.pods = _wait(run)


def _clear_earlier_run(run: SmokeRun) -> None:
    """Delete the namespace an earlier run left (``--keep``, or still being deleted) and wait until it is
    gone: objects cannot be created in a terminating namespace. Deleting one can take minutes (a pod of a
    node that no longer exists goes only when the pod garbage collector removes it)."""
    run.access.delete_namespace()
    started = time.monotonic()
    until = started + min(run.remaining(), run.options.timeout * WAIT_SHARE)
    waiting = False
    while (namespace := run.access.namespace()) is not None:
        if time.monotonic() + POLL > until:
            raise CheckFailedError(
                f"namespace {NAMESPACE} of an earlier smoke run is still being deleted after "
                f"{time.monotonic() - started:.0f} s; run smoke again once it is gone",
                _terminating(run, namespace),
            )
        if not waiting:
            run.report.note(f"waiting for namespace {NAMESPACE} of an earlier run to be deleted")
            waiting = True
        time.sleep(POLL)


def _terminating(run: SmokeRun, namespace: dict[str, Any]) -> str:
    """Why a namespace is not gone: the namespace controller's conditions and the pods left in it."""
    status = namespace.get("status", {})
    lines = [f"namespace {NAMESPACE}: phase {status.get('phase', 'Unknown')}"]
    lines += [
        f"{c.get('type')}: {c.get('message', '')}"
        for c in status.get("conditions") or []
        if c.get("status") == "True"
    ]
    for pod in run.access.smoke_pods():
        gone = "" if pod.node in run.nodes else " (no such node: the pod garbage collector removes it)"
        lines.append(f"pod {pod.name} on node {pod.node or '-'}{gone}")
    return "\n".join(lines)


def _wait(run: SmokeRun) -> list[Pod]:
    """The pods once all expected ones are ready; at the deadline whatever runs (placement says what not)."""
    wanted = {(w.klass, h.name) for w in run.workloads for h in run.expected_hosts(w)}
    until = time.monotonic() + min(run.remaining(), run.options.timeout * WAIT_SHARE)
    shown = -1
    while True:
        pods = run.access.smoke_pods()
        ready = {(p.klass, p.node) for p in pods if p.ready} & wanted
        if len(ready) != shown:
            shown = len(ready)
            run.report.note(f"smoke pods ready: {shown} of {len(wanted)}")
        if ready == wanted or time.monotonic() + POLL > until:
            return pods
        time.sleep(POLL)


def remove(run: SmokeRun) -> Result:
    """Delete the namespace without waiting (the next run waits for it if it is still terminating)."""
    return run.access.delete_namespace()


__all__ = ["NAMESPACE", "deploy", "remove"]
