"""``ping``: connect to every host and report the facts preflight cares about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybridctl.appenv import AppEnv
from hybridctl.events import Event, JsonLines, Outcome
from hybridctl.session import RunSettings, Session, exit_code_of
from hybridctl.steps.facts import GatherFacts
from hybridctl.steps.values import facts_key
from hybridctl.verbs.common import load_cluster, select_hosts


def run_ping(env: AppEnv, settings: RunSettings, names: Sequence[str]) -> int:
    """Gather facts from every (named) host; print them; exit 4 if a host is unreachable."""
    cluster = load_cluster(env)
    hosts = select_hosts(cluster, names)
    with Session(env, cluster, settings, "ping") as session:
        report = session.run(hosts, [GatherFacts()], read_only=True, verb="ping")
        facts = {h.name: session.run_state.get(facts_key(h.name)) for h in hosts}
        if env.json:
            sink = JsonLines(env.stdout, session.masker)
            for name, data in facts.items():
                sink.emit(Event("host-facts", {"host": name, "reachable": data is not None, **(data or {})}))
        else:
            _table(env, report.results, facts)
    return exit_code_of(report)


def _table(env: AppEnv, results: Sequence[Any], facts: dict[str, Any]) -> None:
    from rich.table import Table

    errors = {r.host: _error(r) for r in results if r.outcome is not Outcome.OK}
    table = Table(box=None)
    for column in ("host", "os", "version", "arch", "hostname", "clock skew", "admin", "problems"):
        table.add_column(column)
    for name, data in facts.items():
        if data is None:
            table.add_row(name, "", "", "", "", "", "", "[bold magenta]not reached (below)[/]")
            continue
        table.add_row(*_row(name, data))
    env.out.print(table)
    for name, error in errors.items():
        env.out.print(f"{name}: {error}", markup=False, highlight=False)


def _error(result: Any) -> str:
    hint = f" (hint: {result.hint})" if result.hint else ""
    return f"{result.outcome.value}: {result.error}{hint}"


def _row(name: str, data: dict[str, Any]) -> list[str]:
    problems = "; ".join(data["problems"])
    return [
        name,
        data["distribution"],
        data["version"],
        data["arch"],
        data["hostname"],
        f"{data['skew']:+.2f}s",
        "yes" if data["admin"] else "[bold red]no[/]",
        f"[bold yellow]{problems}[/]" if problems else "[green]ok[/]",
    ]
