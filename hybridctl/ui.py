"""Everything hybridctl prints about a run: the live view, the summary, the plan, JUnit reports.

Computing a result and rendering it are separate: verbs hand a RunReport (or events) to these functions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from hybridctl.events import Event, Outcome

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from hybridctl.runner import RunReport
    from hybridctl.steps.outcome import StepResult

STATUS_STYLE = {
    "ok": "green",
    "changed": "yellow",
    "skipped": "dim",
    "failed": "bold red",
    "unreachable": "bold magenta",
    "running": "cyan",
    "rebooting": "bold cyan",
    "waiting": "dim",
}


@dataclass
class _Row:
    step: str = "-"
    status: str = "waiting"
    started: float = field(default_factory=time.monotonic)
    done: int = 0


class LiveView:
    """A rich live table: one row per host with its current step, elapsed time and status."""

    def __init__(self, console: Console, hosts: Sequence[str], total_steps: int) -> None:
        self._console = console
        self._rows = {name: _Row() for name in hosts}
        self._total = max(total_steps, 1)
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        from rich.live import Live

        self._live = Live(self._render(), console=self._console, refresh_per_second=8, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)

    def emit(self, event: Event) -> None:
        """Update the row of the event's host."""
        with self._lock:
            self._apply(event)
        if self._live is not None:
            self._live.update(self._render())

    def _apply(self, event: Event) -> None:
        row = self._rows.get(str(event.data.get("host", "")))
        if row is None:
            return
        if event.kind == "step-start":
            row.step, row.status, row.started = str(event.data["step"]), "running", time.monotonic()
        elif event.kind == "step-end":
            row.status, row.done = str(event.data["outcome"]), row.done + 1
        elif event.kind == "reboot":
            row.status = "rebooting" if event.data.get("phase") != "up" else "running"

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in ("host", "step", "elapsed", "status"):
            table.add_column(column)
        with self._lock:
            for name, row in self._rows.items():
                elapsed = f"{time.monotonic() - row.started:5.1f}s"
                status = f"[{STATUS_STYLE.get(row.status, '')}]{row.status}[/]"
                table.add_row(name, row.step, elapsed, status)
            done = sum(r.done for r in self._rows.values())
        return Group(table, ProgressBar(total=self._total, completed=min(done, self._total), width=60))


class LineView:
    """Without a terminal: one line per finished step, to stderr."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        """Print finished steps, retries and reboots."""
        text = _line(event)
        if text:
            with self._lock:
                self._console.print(text, markup=False)


def _line(event: Event) -> str | None:
    data = event.data
    if event.kind == "step-end":
        suffix = f": {data['error']}" if data.get("error") else ""
        return f"{data['host']}: {data['step']}: {data['outcome']}{suffix}"
    if event.kind == "retry":
        return f"{data['host']}: {data['step']}: retrying in {data['delay']:g}s ({data['error']})"
    if event.kind == "reboot":
        return f"{data['host']}: reboot: {data.get('phase')}"
    if event.kind == "warning":
        return f"{data['host']}: {data['step']}: warning: {data['message']}"
    return None


def print_summary(console: Console, report: RunReport, log_dir: Path | None) -> None:
    """The final table per host, then the details of every failure."""
    from rich.table import Table

    table = Table(title=f"run {report.run_id}", box=None)
    for column in ("host", "changed", "ok", "skipped", "failed", "time"):
        table.add_column(column, justify="right" if column != "host" else "left")
    for host in _hosts_in_order(report):
        results = report.for_host(host)
        failed = sum(1 for r in results if r.outcome in (Outcome.FAILED, Outcome.UNREACHABLE))
        table.add_row(
            host,
            str(_count(results, Outcome.CHANGED)),
            str(_count(results, Outcome.OK)),
            str(_count(results, Outcome.SKIPPED)),
            f"[bold red]{failed}[/]" if failed else "0",
            f"{sum(r.duration for r in results):.1f}s",
        )
    console.print(table)
    for result in report.results:
        if result.outcome in (Outcome.FAILED, Outcome.UNREACHABLE):
            _print_failure(console, result, log_dir)
    if report.interrupted:
        console.print("[bold]interrupted[/]: running steps were allowed to finish; nothing else started.")


def _print_failure(console: Console, result: StepResult, log_dir: Path | None) -> None:
    console.print(f"\n[bold red]{result.outcome.value}[/] {result.host} / {result.step}: ", end="")
    console.print(result.error or "", markup=False)
    if result.hint:
        console.print(f"  hint: {result.hint}", markup=False)
    if result.result is not None:
        console.print(f"  command: {result.result.command}", markup=False)
        console.print(f"  exit code: {result.result.exit_code}", markup=False)
        for line in result.result.stderr_tail().splitlines():
            console.print(f"  | {line}", markup=False)
    if log_dir is not None:
        console.print(f"  log: {log_dir / (result.host + '.log')}", markup=False)


def _hosts_in_order(report: RunReport) -> list[str]:
    return list(dict.fromkeys(r.host for r in report.results))


def _count(results: Sequence[StepResult], outcome: Outcome) -> int:
    return sum(1 for r in results if r.outcome is outcome)


def print_plan(console: Console, report: RunReport, *, diffs: bool) -> None:
    """What would change, per step and host; unified diffs with ``diffs``."""
    from rich.table import Table

    table = Table(box=None)
    for column in ("step", "host", "would change"):
        table.add_column(column)
    for result in report.results:
        table.add_row(result.step, result.host, _plan_cell(result))
    console.print(table)
    pending = report.count(Outcome.CHANGED)
    console.print(f"{pending} step(s) would change something" if pending else "no changes: converged")
    if diffs:
        _print_diffs(console, report)


def _plan_cell(result: StepResult) -> str:
    if result.outcome is Outcome.CHANGED:
        return "; ".join(c.summary for c in result.changes)
    if result.outcome is Outcome.OK:
        return "(no change)"
    return f"{result.outcome.value}: {result.error or ''}"


def _print_diffs(console: Console, report: RunReport) -> None:
    for result in report.results:
        for change in result.changes:
            if change.diff:
                console.print(f"\n--- {result.host}: {change.summary}", markup=False)
                console.print(change.diff, markup=False, highlight=False)


def write_junit(path: Path, report: RunReport, name: str) -> None:
    """One test case per host and step; failures and skips marked the JUnit way."""
    suite = ET.Element("testsuite", name=name, tests=str(len(report.results)))
    suite.set("failures", str(sum(1 for r in report.results if r.outcome is Outcome.FAILED)))
    suite.set("errors", str(sum(1 for r in report.results if r.outcome is Outcome.UNREACHABLE)))
    suite.set("skipped", str(sum(1 for r in report.results if r.outcome is Outcome.SKIPPED)))
    for result in report.results:
        _junit_case(suite, result)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def _junit_case(suite: ET.Element, result: StepResult) -> None:
    case = ET.SubElement(suite, "testcase", classname=result.host, name=result.step)
    case.set("time", f"{result.duration:.3f}")
    if result.outcome is Outcome.FAILED:
        ET.SubElement(case, "failure", message=result.error or "failed").text = _detail(result)
    elif result.outcome is Outcome.UNREACHABLE:
        ET.SubElement(case, "error", message=result.error or "unreachable").text = _detail(result)
    elif result.outcome is Outcome.SKIPPED:
        ET.SubElement(case, "skipped", message=result.error or "skipped")
    elif result.changes:
        ET.SubElement(case, "system-out").text = "\n".join(c.summary for c in result.changes)


def _detail(result: StepResult) -> str:
    if result.result is None:
        return result.error or ""
    return f"{result.result.command}\nexit {result.result.exit_code}\n{result.result.stderr_tail()}"
