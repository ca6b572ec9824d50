"""The typed result of one step on one host."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hybridctl.errors import HybridctlError
from hybridctl.events import Outcome
from hybridctl.steps.base import Change
from hybridctl.transport.base import CommandFailedError, Result, TransportError

if TYPE_CHECKING:
    from hybridctl.runner import _Item


@dataclass
class StepResult:
    """Outcome of a step on a host; failures carry the failing command's result."""

    host: str
    step: str
    outcome: Outcome
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None
    result: Result | None = None
    attempts: int = 1
    duration: float = 0.0
    trace: str | None = None
    reached: bool = False
    """The host answered but refused (host key, credentials, sudo, TLS): reached, not "not reached"."""

    @classmethod
    def done(cls, item: _Item, changes: list[Change], attempts: int, duration: float) -> StepResult:
        """A step that finished: changed when it found something to change, else ok."""
        outcome = Outcome.CHANGED if changes else Outcome.OK
        return cls(item.host.name, item.step.name, outcome, changes, attempts=attempts, duration=duration)

    @classmethod
    def skipped(cls, item: _Item, reason: str) -> StepResult:
        """A step that did not run."""
        return cls.not_run(item, reason, Outcome.SKIPPED)

    @classmethod
    def not_run(cls, item: _Item, reason: str, outcome: Outcome) -> StepResult:
        """A step that did not run: skipped, or unreachable like its host."""
        return cls(item.host.name, item.step.name, outcome, error=reason, attempts=0)

    def to_json(self) -> dict[str, Any]:
        """The ``step-end`` event payload."""
        data: dict[str, Any] = {
            "host": self.host,
            "step": self.step,
            "outcome": self.outcome.value,
            "attempts": self.attempts,
            "seconds": round(self.duration, 3),
            "changes": [c.summary for c in self.changes],
        }
        if self.error:
            data["error"] = self.error
        if self.reached:
            data["reached"] = True
        if self.result is not None:
            data["command"] = self.result.command
            data["exitCode"] = self.result.exit_code
            data["stderrTail"] = self.result.stderr_tail()
        return data


def classify(item: _Item, exc: Exception, attempts: int, duration: float, trace: str) -> StepResult:
    """Turn an exception from a step into an outcome: unreachable, or failed with what is known."""
    host, step = item.host.name, item.step.name
    outcome = Outcome.UNREACHABLE if isinstance(exc, TransportError) and exc.unreachable else Outcome.FAILED
    result = exc.result if isinstance(exc, CommandFailedError) else None
    if isinstance(exc, HybridctlError):
        reached = isinstance(exc, TransportError) and exc.reached
        return StepResult(
            host, step, outcome, [], exc.message, exc.hint, result, attempts, duration, None, reached
        )
    message = f"internal error: {type(exc).__name__}: {exc}"
    return StepResult(host, step, outcome, [], message, None, None, attempts, duration, trace)
