"""``smoke``: test workloads on every node, cross-OS checks, a JUnit report; exit 0, 1 or 4.

kubectl runs on the first control plane over the session's connection (as ``status`` and ``kubeconfig``
do), so the admin machine needs neither kubectl nor a route to the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hybridctl.appenv import AppEnv
from hybridctl.errors import UsageError
from hybridctl.events import Event, JsonLines
from hybridctl.inventory.models import Cluster
from hybridctl.masking import Masker
from hybridctl.session import RunSettings, Session
from hybridctl.smoke.kubectl import ClusterAccess
from hybridctl.smoke.report import CheckResult, SmokeReport, Verdict, junit_suite, write_junit
from hybridctl.smoke.run import run_checks
from hybridctl.smoke.state import SmokeOptions, SmokeRun
from hybridctl.smoke.workloads import smoke_image
from hybridctl.transport.base import TransportError
from hybridctl.verbs.common import load_cluster

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_TARGET = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})")


@dataclass(frozen=True)
class SmokeRequest:
    """The smoke options as typed on the command line."""

    image: str | None = None
    timeout: str = "10m"
    keep: bool = False
    egress_target: str | None = None


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``10m``, ``1h30m``; UsageError otherwise."""
    if text.isdigit():
        return float(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None or not any(match.groups()):
        raise UsageError(f"--timeout {text!r} is not a duration", hint="e.g. 600, 90s, 10m or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def parse_target(text: str | None) -> str | None:
    """``HOST:PORT`` checked; None stays None."""
    if text is None:
        return None
    match = _TARGET.fullmatch(text)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise UsageError(
            f"--egress-target {text!r} is not HOST:PORT", hint="e.g. 1.1.1.1:443 or example.com:443"
        )
    return text


def options_for(cluster: Cluster, request: SmokeRequest) -> SmokeOptions:
    """Checked options (UsageError before anything connects)."""
    timeout = parse_duration(request.timeout)
    if timeout <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    return SmokeOptions(
        smoke_image(cluster, request.image), timeout, request.keep, parse_target(request.egress_target)
    )


def run_smoke(env: AppEnv, settings: RunSettings, request: SmokeRequest, *, after_up: bool = False) -> int:
    """Run every check against the inventory's cluster; print, write JUnit; the exit code of the report."""
    cluster = load_cluster(env)
    options = options_for(cluster, request)
    report = SmokeReport(cluster.name)
    with Session(env, cluster, settings, "smoke") as session:
        report.on_result = _json_lines(env, session) if env.json else _printer(env, session.masker)
        if not env.json:
            report.on_note = lambda text: print(text, file=env.stderr, flush=True)
        try:
            _run(session, cluster, options, report)
        finally:  # Ctrl-C too: the report says what ran
            report.mask(session.masker.mask)
            if settings.junit is not None:
                write_junit(settings.junit, [junit_suite(report)], after_up=after_up)
        _show(env, session, report)
    return report.exit_code


def _run(session: Session, cluster: Cluster, options: SmokeOptions, report: SmokeReport) -> None:
    assert session.pool is not None
    try:
        handle = session.pool.handle(cluster.first_control_plane)
        run_checks(SmokeRun(cluster, ClusterAccess(handle), report, options))
    except TransportError as exc:
        if not exc.unreachable:
            raise
        report.unreachable = exc.message


def _json_lines(env: AppEnv, session: Session) -> Callable[[CheckResult], None]:
    lines = JsonLines(env.stdout, session.masker)
    return lambda result: lines.emit(Event("smoke-check", result.to_json()))


def _printer(env: AppEnv, masker: Masker) -> Callable[[CheckResult], None]:
    def show(result: CheckResult) -> None:
        mark = {Verdict.PASSED: "PASS", Verdict.FAILED: "FAIL", Verdict.SKIPPED: "SKIP"}[result.verdict]
        line = f"{mark}  {result.group:<18} {result.name}  ({result.seconds:.1f} s)"
        env.stdout.write(masker.mask(line + (f": {result.message}" if result.message else "")) + "\n")
        env.stdout.flush()

    return show


def _show(env: AppEnv, session: Session, report: SmokeReport) -> None:
    if env.json:
        JsonLines(env.stdout, session.masker).emit(Event("smoke", report.to_json()))
        return
    for result in report.results:
        if result.verdict is Verdict.FAILED and result.evidence:
            text = f"\n--- evidence: {result.group} {result.name}\n{result.evidence}\n"
            env.stdout.write(session.masker.mask(text))
    if report.unreachable is not None:
        env.stderr.write(f"error: cluster unreachable: {report.unreachable}\n")
    counts = ", ".join(f"{report.count(v)} {v.value}" for v in Verdict)
    env.stdout.write(f"\nsmoke {report.cluster}: {counts}\n")
