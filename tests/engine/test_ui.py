"""What people see: the live view (rows per host, reboots, progress), the summary with failure details,
the plan table and the JUnit report.

Tier: unit. Real: rich rendering to an in-memory terminal, ElementTree. Simulated: the run (hand-made
events and results).
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest
from rich.console import Console

from hybridctl.events import Event, Outcome, Recorder
from hybridctl.runner import RunReport
from hybridctl.steps.base import Change
from hybridctl.steps.outcome import StepResult
from hybridctl.transport.base import Result
from hybridctl.ui import LiveView, print_plan, print_summary, write_junit


def terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120, color_system=None), buffer


def report() -> RunReport:
    failed = StepResult(
        "win1",
        "windows-kubelet",
        Outcome.FAILED,
        error="kubelet did not register",
        hint="check C:\\var\\log\\kubelet",
        result=Result("win/nssm-service(Name='kubelet')", 1, "", "line 1\nservice failed to start\n"),
    )
    changed = StepResult("cp1", "kubeadm-init", Outcome.CHANGED, [Change("kubeadm init", "--- a\n+++ b\n")])
    return RunReport("r1", [changed, failed])


def test_live_view_shows_each_host_its_step_and_reboots() -> None:
    console, buffer = terminal()
    with LiveView(console, ["cp1", "win1"], total_steps=4) as view:
        view.emit(Event("step-start", {"host": "cp1", "step": "kubeadm-init"}))
        view.emit(Event("step-start", {"host": "win1", "step": "windows-features"}))
        view.emit(Event("reboot", {"host": "win1", "phase": "down"}))
    text = buffer.getvalue()
    assert "kubeadm-init" in text and "windows-features" in text
    assert "rebooting" in text


def test_summary_shows_counts_and_failure_details_with_the_log(tmp_path: Path) -> None:
    console, buffer = terminal()
    print_summary(console, report(), tmp_path)
    text = buffer.getvalue()
    assert "win1" in text and "cp1" in text
    assert "kubelet did not register" in text
    assert "exit code: 1" in text and "service failed to start" in text
    assert str(tmp_path / "win1.log") in text


def test_plan_lists_changes_and_optional_diffs() -> None:
    console, buffer = terminal()
    print_plan(console, report(), diffs=True)
    text = buffer.getvalue()
    assert "kubeadm init" in text and "+++ b" in text
    assert "incomplete plan: 1 step would change something; 1 failed: those steps were not checked" in text
    assert "converged" not in text


def test_a_plan_where_nothing_could_be_checked_never_says_converged() -> None:
    console, buffer = terminal()
    unreachable = StepResult(
        "lin1", "facts", Outcome.UNREACHABLE, error="lin1: connection refused", attempts=1
    )
    rest = StepResult(
        "lin1", "swap", Outcome.UNREACHABLE, error="not run: the host was unreachable", attempts=0
    )
    skipped = StepResult("cp1", "swap", Outcome.SKIPPED, error="not started: the run stopped", attempts=0)
    print_plan(console, RunReport("r2", [unreachable, rest, skipped]), diffs=False)
    text = buffer.getvalue()
    assert "converged" not in text
    assert "incomplete plan: 2 unreachable, 1 skipped: those steps were not checked" in text
    assert ["swap", "lin1", "unreachable:", "not", "run:"] in [line.split()[:5] for line in text.splitlines()]


def test_the_plan_marks_reboots_restarts_and_deletions() -> None:
    console, buffer = terminal()
    features = StepResult(
        "win1", "windows-features", Outcome.CHANGED, [Change("install Containers", impact="reboot")]
    )
    proxy = StepResult(
        "win2", "kube-proxy", Outcome.CHANGED, [Change("restart kube-proxy", impact="restart")]
    )
    routes = StepResult("cp1", "routes", Outcome.CHANGED, [Change("remove stale route", impact="delete")])
    print_plan(console, RunReport("r3", [features, proxy, routes]), diffs=False)
    text = buffer.getvalue()
    assert "REBOOT install Containers" in text and "REBOOT: win1 will reboot" in text
    assert "RESTART: win2 will restart a service" in text
    assert "DELETE: cp1 will lose something" in text
    assert "3 steps would change something" in text


def test_the_summary_shows_an_unreachable_host_as_unreachable(tmp_path: Path) -> None:
    console, buffer = terminal()
    unreachable = StepResult(
        "lin1", "facts", Outcome.UNREACHABLE, error="lin1: connection refused", attempts=3
    )
    rest = StepResult(
        "lin1", "swap", Outcome.UNREACHABLE, error="not run: the host was unreachable", attempts=0
    )
    print_summary(console, RunReport("r4", [unreachable, rest]), tmp_path)
    lines = [line.split() for line in buffer.getvalue().splitlines()]
    assert ["lin1", "unreachable", "0", "0", "0", "0", "2", "0.0s"] in lines
    assert buffer.getvalue().count("connection refused") == 1  # the cause once, not once per step


def test_live_view_clocks_tick_and_retries_and_interrupts_show() -> None:
    import time

    console, buffer = terminal()
    with LiveView(console, ["cp1"], total_steps=2) as view:
        view.emit(Event("step-start", {"host": "cp1", "step": "containerd"}))
        view.emit(
            Event(
                "retry", {"host": "cp1", "step": "containerd", "attempt": 1, "delay": 2.0, "error": "reset"}
            )
        )
        time.sleep(1.3)
        view.emit(Event("interrupt", {"message": "interrupt: finishing running steps", "running": []}))
    text = buffer.getvalue()
    assert "retry 1 in 2s: reset" in text
    assert "interrupt: finishing running steps" in text
    assert "    1s" in text  # re-rendered while nothing happened: the clock moved on


def test_junit_has_one_case_per_host_and_step(tmp_path: Path) -> None:
    write_junit(tmp_path / "r.xml", report(), "hybridctl up")
    suite = ElementTree.parse(tmp_path / "r.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = suite.find("testcase[@classname='win1']/failure")
    assert failure is not None and "service failed to start" in (failure.text or "")


def test_a_long_download_shows_bytes_and_rate_live_and_now_and_then_in_plain_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events as ``deliver`` makes them from the node's reports (delivery._Meter): the live view's note
    shows the bytes so far, the total and the rate; without a terminal a progress line is printed at most
    every PROGRESS_LINE_SECONDS per host, then the end line with size and rate."""
    import time

    from hybridctl import ui
    from hybridctl.steps.delivery import _Meter

    monkeypatch.setattr(ui, "PROGRESS_LINE_SECONDS", 0.3)
    recorder = Recorder()
    emitted = SimpleNamespace(emit=lambda kind, **data: recorder.emit(Event(kind, data)))
    meter = _Meter(emitted, "cp1", "cni.tgz")  # type: ignore[arg-type]
    recorder.emit(Event("download", {"host": "cp1", "message": "the node downloads cni.tgz"}))
    for done in (2_000_000, 4_000_000, 6_000_000):
        time.sleep(0.2)
        meter.heard(done, 8_000_000)
    meter.heard(8_000_000, 8_000_000)
    meter.finished()

    console, buffer = terminal()
    with LiveView(console, ["cp1"], total_steps=1) as view:
        view.emit(Event("step-start", {"host": "cp1", "step": "cni-plugins"}))
        view.emit(recorder.of_kind("download")[2])
    assert "cni.tgz: 4.0 MB of 8.0 MB, " in buffer.getvalue() and " MB/s" in buffer.getvalue()

    plain = io.StringIO()
    lines = ui.LineView(Console(file=plain, width=200))
    for event in recorder.events:
        lines.emit(event)
        time.sleep(0.1)
    printed = plain.getvalue().splitlines()
    progress = [line for line in printed if line.startswith("cp1: downloading cni.tgz: ")]
    assert 1 <= len(progress) < 4, printed
    assert printed[-1].startswith("cp1: downloaded cni.tgz in ") and "(8.0 MB, " in printed[-1]
