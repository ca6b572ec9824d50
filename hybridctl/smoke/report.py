"""Results of ``hybridctl smoke``: one per check, timed, with evidence; JUnit XML, JSON and exit codes."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hybridctl.errors import ExitCode, HybridctlError


class Verdict(StrEnum):
    """How one check ended."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class CheckFailedError(Exception):
    """Raised inside a check: what went wrong, and the evidence that shows it."""

    def __init__(self, message: str, evidence: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.evidence = evidence


class CheckSkippedError(Exception):
    """Raised inside a check that cannot apply; the message says why."""


@dataclass
class CheckResult:
    """One check: its group (JUnit classname), name, verdict, time, message and evidence."""

    group: str
    name: str
    verdict: Verdict
    seconds: float
    message: str = ""
    evidence: str = ""

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        data: dict[str, Any] = {
            "group": self.group,
            "name": self.name,
            "verdict": self.verdict.value,
            "seconds": round(self.seconds, 3),
        }
        if self.message:
            data["message"] = self.message
        if self.evidence:
            data["evidence"] = self.evidence
        return data


@dataclass
class SmokeReport:
    """Every check of one smoke run; ``unreachable`` says why the cluster could not be tested at all."""

    cluster: str
    results: list[CheckResult] = field(default_factory=list)
    unreachable: str | None = None
    on_result: Callable[[CheckResult], None] | None = None
    on_note: Callable[[str], None] | None = None

    def note(self, text: str) -> None:
        """Progress worth showing while a check runs (human output only)."""
        if self.on_note is not None:
            self.on_note(text)

    def add(self, result: CheckResult) -> None:
        """Record a result (and show it as it happens)."""
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    @contextmanager
    def check(self, group: str, name: str) -> Iterator[None]:
        """Time the block; CheckFailedError / CheckSkippedError inside it decide the verdict."""
        start = time.monotonic()
        verdict, message, evidence = Verdict.PASSED, "", ""
        try:
            yield
        except CheckFailedError as exc:
            verdict, message, evidence = Verdict.FAILED, exc.message, exc.evidence
        except CheckSkippedError as exc:
            verdict, message = Verdict.SKIPPED, str(exc)
        except HybridctlError as exc:  # a kubectl call failed or timed out: this check failed, not the run
            if getattr(exc, "unreachable", False):
                raise  # the control plane is gone: no later check can run (exit 4)
            verdict, message, evidence = Verdict.FAILED, exc.message, _detail(exc)
        self.add(CheckResult(group, name, verdict, time.monotonic() - start, message, evidence))

    def mask(self, mask: Callable[[str], str]) -> None:
        """Pass every message and evidence through ``mask`` (the run's secret masker) before it is written."""
        for result in self.results:
            result.message, result.evidence = mask(result.message), mask(result.evidence)
        if self.unreachable is not None:
            self.unreachable = mask(self.unreachable)

    def count(self, verdict: Verdict) -> int:
        """How many checks ended with ``verdict``."""
        return sum(1 for r in self.results if r.verdict is verdict)

    @property
    def exit_code(self) -> int:
        """0 all passed (or skipped), 1 a check failed, 4 the cluster was unreachable."""
        if self.unreachable is not None:
            return ExitCode.UNREACHABLE
        return ExitCode.FAILED if self.count(Verdict.FAILED) else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object."""
        return {
            "cluster": self.cluster,
            "exitCode": int(self.exit_code),
            "unreachable": self.unreachable,
            "summary": {v.value: self.count(v) for v in Verdict},
            "checks": [r.to_json() for r in self.results],
        }


def _detail(exc: HybridctlError) -> str:
    result = getattr(exc, "result", None)
    if result is None:
        return exc.message
    return f"{result.command}\nexit {result.exit_code}\n{result.stderr_tail()}"


def junit_suite(report: SmokeReport) -> ET.Element:
    """The report as one JUnit ``testsuite``; an unreachable cluster is one ``error`` test case."""
    results = list(report.results)
    suite = ET.Element("testsuite", name=f"hybridctl smoke {report.cluster}")
    for result in results:
        _case(suite, result)
    errors = 0
    if report.unreachable is not None:
        case = ET.SubElement(suite, "testcase", classname="cluster", name="reachable", time="0.000")
        ET.SubElement(case, "error", message=report.unreachable).text = report.unreachable
        errors = 1
    suite.set("tests", str(len(results) + errors))
    suite.set("failures", str(report.count(Verdict.FAILED)))
    suite.set("errors", str(errors))
    suite.set("skipped", str(report.count(Verdict.SKIPPED)))
    suite.set("time", f"{sum(r.seconds for r in results):.3f}")
    return suite


def _case(suite: ET.Element, result: CheckResult) -> None:
    case = ET.SubElement(suite, "testcase", classname=result.group, name=result.name)
    case.set("time", f"{result.seconds:.3f}")
    if result.verdict is Verdict.FAILED:
        ET.SubElement(case, "failure", message=result.message).text = result.evidence or result.message
    elif result.verdict is Verdict.SKIPPED:
        ET.SubElement(case, "skipped", message=result.message)


def write_junit(path: Path, suites: list[ET.Element], *, after_up: bool = False) -> None:
    """``<testsuites>`` holding ``suites``; ``after_up``: the suite ``up --junit`` wrote there comes first."""
    root = ET.Element("testsuites")
    for suite in [*(_earlier_suites(path) if after_up else []), *suites]:
        root.append(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _earlier_suites(path: Path) -> list[ET.Element]:
    """The suites ``up --junit`` just wrote to ``path`` (``up --smoke``); none when there is no file."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - hybridctl's own file from this run
    except (OSError, ET.ParseError):
        return []
    if root.tag == "testsuite":
        return [root]
    return [s for s in root if s.tag == "testsuite" and not s.get("name", "").startswith("hybridctl smoke")]
