"""Everything hybridctl prints about a run: the live view, the summary, the plan, JUnit reports.

Computing a result and rendering it are separate: verbs hand a RunReport (or events) to these functions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from hybridctl.events import Event, Outcome

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from hybridctl.runner import RunReport
    from hybridctl.steps.base import Change
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


def counted(number: int, noun: str) -> str:
    """``1 host``, ``2 hosts``, ``0 hosts``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@dataclass
class _Row:
    step: str = "-"
    status: str = "waiting"
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    note: str = ""
    """What the step is waiting for: a retry (reason, wait), a reboot, a download."""


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

        # get_renderable: every refresh re-renders, so the clocks tick while a step runs
        self._live = Live(
            console=self._console, get_renderable=self._render, refresh_per_second=4, transient=False
        )
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)

    def emit(self, event: Event) -> None:
        """Update the row of the event's host; print interrupts and retries above the table."""
        if event.kind == "interrupt" and self._live is not None:
            self._live.console.print(f"[bold]{escape(str(event.data['message']))}[/]")
        with self._lock:
            self._apply(event)
        if self._live is not None:
            self._live.refresh()

    def _render(self) -> RenderableType:
        with self._lock:
            return _LiveTable.render(self._rows, self._total)

    def _apply(self, event: Event) -> None:
        row = self._rows.get(str(event.data.get("host", "")))
        if row is None:
            return
        data = event.data
        if event.kind == "step-start":
            row.step, row.status, row.started, row.note = str(data["step"]), "running", time.monotonic(), ""
        elif event.kind == "step-end":
            row.status, row.done, row.note = str(data["outcome"]), row.done + 1, ""
        else:
            row.status, row.note = _progress(event, row.status)


def _progress(event: Event, status: str) -> tuple[str, str]:
    """Status and note of a host while its step retries, reboots it or downloads."""
    data = event.data
    if event.kind == "retry":
        return "running", f"retry {data['attempt']} in {data['delay']:g}s: {data['error']}"
    if event.kind == "reboot" and data.get("phase") != "up":
        return "rebooting", f"rebooting ({data.get('phase')}), waiting for {_remote(data)}"
    if event.kind == "reboot":
        return "running", "back after the reboot"
    if event.kind == "download":
        return "running", str(data.get("message", ""))
    return status, ""


def _remote(data: dict[str, object]) -> str:
    return "WinRM" if data.get("os", "windows") == "windows" else "SSH"


class _LiveTable:
    """Renders the live view's rows."""

    @staticmethod
    def render(rows: dict[str, _Row], total: int) -> RenderableType:
        """The table and the progress bar."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in ("host", "step", "elapsed", "status", ""):
            table.add_column(column)
        for name, row in rows.items():
            elapsed = f"{time.monotonic() - row.started:5.0f}s"
            status = f"[{STATUS_STYLE.get(row.status, '')}]{row.status}[/]"
            table.add_row(name, row.step, elapsed, status, escape(row.note))
        done = sum(r.done for r in rows.values())
        return Group(table, ProgressBar(total=total, completed=min(done, total), width=60))


PROGRESS_LINE_SECONDS = 5.0
"""Without a terminal, a running download prints a progress line at most this often per host."""


class LineView:
    """Without a terminal: one line per finished step, to stderr."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._download_lines: dict[str, float] = {}
        """When each host's running download last printed (or started)."""

    def emit(self, event: Event) -> None:
        """Print finished steps, retries, reboots, and now and then a long download's progress."""
        if event.kind == "download" and not _is_download_progress(event):
            with self._lock:  # a download starts or ends: the next one starts its own clock
                self._download_lines.pop(str(event.data.get("host")), None)
        text = self._progress_line(event) if _is_download_progress(event) else _line(event)
        if text:
            with self._lock:
                self._console.print(text, markup=False)

    def _progress_line(self, event: Event) -> str | None:
        host, now = str(event.data.get("host")), time.monotonic()
        with self._lock:
            last = self._download_lines.setdefault(host, now)
            if now - last < PROGRESS_LINE_SECONDS:
                return None
            self._download_lines[host] = now
        return f"{host}: downloading {event.data['message']}"


def _is_download_progress(event: Event) -> bool:
    return event.kind == "download" and "bytes" in event.data and "seconds" not in event.data


_LINES: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "step-end": lambda d: (
        f"{d['host']}: {d['step']}: {d['outcome']}" + (f": {d['error']}" if d.get("error") else "")
    ),
    "retry": lambda d: f"{d['host']}: {d['step']}: retrying in {d['delay']:g}s ({d['error']})",
    "reboot": lambda d: f"{d['host']}: reboot: {d.get('phase')}",
    "warning": lambda d: f"{d['host']}: {d['step']}: warning: {d['message']}",
    "interrupt": lambda d: str(d["message"]),
    "download": lambda d: f"{d['host']}: downloaded {d['message']}" if "seconds" in d else None,
}
"""The one line a plain (non-live) view prints per event kind; kinds not listed print nothing."""


def _line(event: Event) -> str | None:
    render = _LINES.get(event.kind)
    return render(event.data) if render else None


def print_summary(console: Console, report: RunReport, log_dir: Path | None) -> None:
    """The final table per host, then the details of every failure."""
    from rich.table import Table

    table = Table(title=f"run {report.run_id}", box=None)
    for column in ("host", "result", "changed", "ok", "skipped", "failed", "unreachable", "time"):
        table.add_column(column, justify="left" if column in ("host", "result") else "right")
    for host in _hosts_in_order(report):
        results = report.for_host(host)
        table.add_row(
            host, _host_result(results), *_counts(results), f"{sum(r.duration for r in results):.1f}s"
        )
    console.print(table)
    print_failures(console, report.results, log_dir)
    if report.interrupted:
        console.print("[bold]interrupted[/]: running steps were allowed to finish; nothing else started.")


def _counts(results: Sequence[StepResult]) -> list[str]:
    shown = []
    for outcome in (Outcome.CHANGED, Outcome.OK, Outcome.SKIPPED, Outcome.FAILED, Outcome.UNREACHABLE):
        count = _count(results, outcome)
        bad = outcome in (Outcome.FAILED, Outcome.UNREACHABLE) and count
        shown.append(f"[{STATUS_STYLE[outcome.value]}]{count}[/]" if bad else str(count))
    return shown


def _host_result(results: Sequence[StepResult]) -> str:
    """One word per host: the worst thing that happened to it."""
    for outcome in (Outcome.UNREACHABLE, Outcome.FAILED, Outcome.SKIPPED, Outcome.CHANGED, Outcome.OK):
        if any(r.outcome is outcome for r in results):
            word = "not run" if outcome is Outcome.SKIPPED else outcome.value
            return f"[{STATUS_STYLE[outcome.value]}]{word}[/]"
    return "-"


def print_failures(console: Console, results: Sequence[StepResult], log_dir: Path | None) -> None:
    """The details of every step that failed or found its host unreachable (``up``, ``plan``, ``ping``)."""
    for result in results:
        if result.outcome in (Outcome.FAILED, Outcome.UNREACHABLE) and result.attempts:
            print_failure(console, result, log_dir)


def print_failure(console: Console, result: StepResult, log_dir: Path | None) -> None:
    """What failed where: the message, the hint, the command, its exit code, stderr's last lines, the log."""
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
    for line in plan_verdict(report):
        console.print(line)
    if diffs:
        _print_diffs(console, report)


IMPACT_MARK = {"reboot": "REBOOT", "restart": "RESTART", "delete": "DELETE"}


def plan_verdict(report: RunReport) -> list[str]:
    """What the plan amounts to; "converged" only when every step was checked and nothing would change."""
    pending = report.count(Outcome.CHANGED)
    unchecked = {o: report.count(o) for o in (Outcome.FAILED, Outcome.UNREACHABLE, Outcome.SKIPPED)}
    lines = [_impacts(report, impact) for impact in IMPACT_MARK]
    lines = [line for line in lines if line]
    if any(unchecked.values()):
        parts = ", ".join(f"{n} {o.value}" for o, n in unchecked.items() if n)
        changes = f"{counted(pending, 'step')} would change something; " if pending else ""
        lines.append(f"[bold red]incomplete plan[/]: {changes}{parts}: those steps were not checked")
    elif pending:
        lines.append(f"{counted(pending, 'step')} would change something")
    else:
        lines.append("no changes: converged")
    return lines


def _impacts(report: RunReport, impact: str) -> str:
    hosts = sorted({r.host for r in report.results for c in r.changes if c.impact == impact})
    if not hosts:
        return ""
    what = {"reboot": "will reboot", "restart": "will restart a service", "delete": "will lose something"}
    return f"[bold yellow]{IMPACT_MARK[impact]}[/]: {', '.join(hosts)} {what[impact]} (marked above)"


def _plan_cell(result: StepResult) -> str:
    if result.outcome is Outcome.CHANGED:
        return "; ".join(_marked(c) for c in result.changes)
    if result.outcome is Outcome.OK:
        return "(no change)"
    return f"[{STATUS_STYLE[result.outcome.value]}]{result.outcome.value}[/]: {escape(result.error or '')}"


def _marked(change: Change) -> str:
    mark = f"[bold yellow]{IMPACT_MARK[change.impact]}[/] " if change.impact else ""
    return mark + escape(change.summary)


def escape(text: str) -> str:
    """``text`` safe inside rich markup (host output may hold brackets)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


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
