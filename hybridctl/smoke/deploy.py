"""Create the smoke workloads (after removing any left by ``--keep``) and wait until they run."""

from __future__ import annotations

import time

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
        run.access.delete_namespace(wait=True)  # a namespace a --keep run left behind
        for item in files:
            run.access.apply(item.installable())
        run.pods = _wait(run)


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
    return run.access.delete_namespace(wait=False)


__all__ = ["NAMESPACE", "deploy", "remove"]
