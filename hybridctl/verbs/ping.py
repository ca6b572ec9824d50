"""``ping``: connect to every host, report its facts and run the preflight checks ``plan`` runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from hybridctl.appenv import AppEnv
from hybridctl.events import Event, JsonLines, Outcome
from hybridctl.session import RunSettings, Session, exit_code_of
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.facts import GatherFacts
from hybridctl.steps.host import HostView
from hybridctl.steps.linux.linux_preflight import LinuxPreflight
from hybridctl.steps.outcome import StepResult
from hybridctl.steps.values import facts_key
from hybridctl.steps.windows.windows_preflight import WindowsPreflight
from hybridctl.verbs.common import load_cluster, select_hosts

PING_FACTS = "ping-facts/"


class _PingFacts(GatherFacts):
    """GatherFacts that keeps its own copy: the preflight steps after it replace the shared facts."""

    name: ClassVar[str] = "facts"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Gather the facts, then keep them for the ping table."""
        super().check(host, ctx)
        ctx.state.set(PING_FACTS + host.name, dict(ctx.state.get(facts_key(host.name))))
        return []


def run_ping(env: AppEnv, settings: RunSettings, names: Sequence[str]) -> int:
    """Facts and preflight of every (named) host; exit 4 if one is unreachable, 1 if preflight refuses one."""
    cluster = load_cluster(env)
    hosts = select_hosts(cluster, names)
    steps = [_PingFacts(), LinuxPreflight(), WindowsPreflight()]
    # every host is checked: one host's refusal must not leave another's preflight unrun (and shown "ok")
    settings = dataclasses.replace(settings, continue_on_error=True)
    with Session(env, cluster, settings, "ping") as session:
        report = session.run(hosts, steps, read_only=True, verb="ping")
        facts = {h.name: session.run_state.get(PING_FACTS + h.name) for h in hosts}
        results = {h.name: report.for_host(h.name) for h in hosts}
        if env.json:
            sink = JsonLines(env.stdout, session.masker)
            for name, data in facts.items():
                sink.emit(Event("host-facts", _json(name, data, results[name])))
        else:
            _table(env, facts, results)
            _details(env, report.results, session.state_dir.log_dir(session.run_id))
    return exit_code_of(report)


def _json(name: str, data: dict[str, Any] | None, results: list[StepResult]) -> dict[str, Any]:
    refused = next((r for r in results if r.reached and not _ok(r)), None)
    preflight = [r.error for r in results if r.step.endswith("preflight") and r.outcome is Outcome.FAILED]
    document = {"host": name, "reachable": data is not None or refused is not None, **(data or {})}
    if refused is not None:
        document["refused"] = refused.error
    if preflight:
        document["preflight"] = preflight
    return document


def _ok(result: StepResult) -> bool:
    return result.outcome in (Outcome.OK, Outcome.CHANGED)


def _table(env: AppEnv, facts: dict[str, Any], results: dict[str, list[StepResult]]) -> None:
    from rich.table import Table

    table = Table(box=None)
    for column in ("host", "os", "version", "arch", "hostname", "clock skew", "admin", "problems"):
        table.add_column(column)
    for name, data in facts.items():
        status = _status(results[name])
        if data is None:
            table.add_row(name, "", "", "", "", "", "", status)
        else:
            table.add_row(*_row(name, data, status))
    env.out.print(table)


def _status(results: list[StepResult]) -> str:
    """The problems column for a host: ok, reached but refused, not reached, or preflight refused."""
    first_bad = next((r for r in results if not _ok(r) and r.attempts), None)
    if first_bad is None:
        return "[green]ok[/]"
    if first_bad.reached:
        return "[bold magenta]reached, refused (below)[/]"
    if first_bad.outcome is Outcome.UNREACHABLE:
        return "[bold magenta]not reached (below)[/]"
    return f"[bold red]{first_bad.step} refused (below)[/]"


def _details(env: AppEnv, results: Sequence[StepResult], log_dir: Path) -> None:
    """Every failure as ``up`` shows it: message, hint, command, exit code, stderr's last lines, log."""
    from hybridctl.ui import print_failures

    print_failures(env.out, results, log_dir)


def _row(name: str, data: dict[str, Any], status: str) -> list[str]:
    problems = "; ".join(data["problems"])
    if problems and "(below)" not in status:
        status = f"[bold yellow]{problems}[/]"
    elif problems:
        status = f"[bold yellow]{problems}[/]; {status}"
    return [
        name,
        data["distribution"],
        data["version"],
        data["arch"],
        data["hostname"],
        f"{data['skew']:+.2f}s",
        "yes" if data["admin"] else "[bold red]no[/]",
        status,
    ]
