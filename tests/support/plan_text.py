"""The plan as ``hybridctl plan`` prints it, as plain text, and the rows that carry a mark."""

from __future__ import annotations

from rich.console import Console

from hybridctl.runner import RunReport
from hybridctl.ui import print_plan


def plan_text(report: RunReport) -> str:
    """``print_plan``'s table and verdict, wide enough that no row wraps."""
    console = Console(record=True, width=1000, force_terminal=False)
    print_plan(console, report, diffs=False)
    return console.export_text()


def marked_steps(text: str, mark: str, host: str) -> set[str]:
    """The steps whose row for ``host`` carries ``mark`` (REBOOT, RESTART, DELETE)."""
    rows = (line.split() for line in text.splitlines())
    return {row[0] for row in rows if len(row) > 2 and row[1] == host and mark in row[2:]}
