"""Run steps on hosts: bounded parallelism per OS, cross-host dependencies, retries, stop policy.

A (host, step) pair is *ready* when the host finished its previous step, every step named in
``requires`` is done on every host it applies to, (for a barrier) every host has finished every
earlier step, and (for a step that runs ``one_at_a_time`` on the host) no other such host runs it.
A scheduler submits ready pairs to a thread pool while the number of Linux and of Windows steps in
flight stays under their caps (a sliding window). Each step's check runs again right before
its apply, so a plan computed earlier never decides what changes.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from hybridctl.events import Event, Outcome
from hybridctl.inventory.models import Host
from hybridctl.library_logs import about_host
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.outcome import StepResult, classify
from hybridctl.transport.base import TransportError

Sleep = Callable[[float], None]
INTERRUPT_MESSAGE = "interrupt: finishing running steps, starting nothing new; Ctrl-C again to abort"
Selector = Callable[[Step, Host], bool]


@dataclass(frozen=True)
class RunnerOptions:
    """Knobs of a run."""

    linux_parallel: int = 20
    windows_parallel: int = 5
    continue_on_error: bool = False
    retries: int = 2
    backoff: float = 2.0


@dataclass
class _Item:
    host: Host
    index: int  # position of the step in the verb's step list
    step: Step


@dataclass
class RunReport:
    """Everything a run did, in completion order."""

    run_id: str
    results: list[StepResult] = field(default_factory=list)
    interrupted: bool = False

    def for_host(self, name: str) -> list[StepResult]:
        """Results of one host."""
        return [r for r in self.results if r.host == name]

    def count(self, outcome: Outcome) -> int:
        """How many step results had ``outcome``."""
        return sum(1 for r in self.results if r.outcome is outcome)


class Runner:
    """Runs an ordered list of steps on a set of hosts."""

    def __init__(
        self,
        ctx: StepContext,
        hosts: Sequence[Host],
        steps: Sequence[Step],
        options: RunnerOptions | None = None,
        *,
        sleep: Sleep = time.sleep,
        run_id: str | None = None,
        selector: Selector | None = None,
    ) -> None:
        self.ctx = ctx
        self.hosts = list(hosts)
        self.steps = list(steps)
        self._selector = selector
        self.options = options or RunnerOptions()
        self._sleep = sleep
        self.report = RunReport(run_id or uuid.uuid4().hex[:12])
        self._queues = {h.name: self._items_for(h) for h in self.hosts}
        self._done: dict[tuple[str, str], Outcome] = {}
        self._running: dict[Future[StepResult], _Item] = {}
        self._stopped = False

    def _items_for(self, host: Host) -> list[_Item]:
        return [_Item(host, i, s) for i, s in enumerate(self.steps) if self.includes(s, host)]

    def includes(self, step: Step, host: Host) -> bool:
        """Whether ``step`` runs on ``host`` in this run (it applies, and the verb selected it)."""
        selected = self._selector is None or self._selector(step, host)
        return selected and step.applies_to(host, self.ctx.cluster)

    def run(self) -> RunReport:
        """Run every step on every host it applies to; returns the report (never raises for step failures).

        A first Ctrl-C (or SIGTERM) lets running steps finish and starts nothing new; a second one aborts:
        KeyboardInterrupt propagates at once, and closing the session's connections ends the running steps.
        """
        workers = max(1, self.options.linux_parallel + self.options.windows_parallel)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hybridctl")
        aborted = False
        try:
            self._loop(pool)
        except KeyboardInterrupt:
            aborted = self._interrupt()
        finally:
            pool.shutdown(wait=not aborted, cancel_futures=True)
        if aborted:
            raise KeyboardInterrupt
        self._skip_rest("not started: the run stopped")
        return self.report

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        while True:
            self._submit_ready(pool)
            if not self._running:
                if self._pending_exists():
                    self._skip_blocked()
                    continue
                return
            finished, _ = wait(list(self._running), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                self._finish(self._running.pop(future), future.result())

    def _interrupt(self) -> bool:
        """First Ctrl-C: start nothing new, let running steps end (they have timeouts); True if aborted."""
        self.report.interrupted = True
        self._stopped = True
        running = sorted({f"{i.host.name}: {i.step.name}" for i in self._running.values()})
        self.ctx.events.emit(Event("interrupt", {"message": INTERRUPT_MESSAGE, "running": running}))
        try:
            for future, item in list(self._running.items()):
                self._finish(item, future.result())
        except KeyboardInterrupt:
            return True
        finally:
            self._running.clear()
        return False

    def _pending_exists(self) -> bool:
        return any(self._queues[h.name] for h in self.hosts) and not self._stopped

    def _submit_ready(self, pool: ThreadPoolExecutor) -> None:
        if self._stopped:
            return
        for host in self.hosts:
            queue = self._queues[host.name]
            if not queue or self._busy(host) or not self._has_capacity(host):
                continue
            item = queue[0]
            blocked = self._blocked_by(item)
            if blocked:
                queue.pop(0)
                self._record(item, StepResult.skipped(item, blocked))
            elif self._ready(item):
                queue.pop(0)
                self._start(pool, item)

    def _busy(self, host: Host) -> bool:
        return any(item.host.name == host.name for item in self._running.values())

    def _has_capacity(self, host: Host) -> bool:
        same_os = sum(1 for item in self._running.values() if item.host.os == host.os)
        cap = self.options.windows_parallel if host.is_windows else self.options.linux_parallel
        return same_os < cap

    def _ready(self, item: _Item) -> bool:
        """Dependencies satisfied: required steps done everywhere; barrier: all earlier steps done."""
        for name in item.step.requires:
            if not all(self._done.get((h.name, name)) for h in self._hosts_with(name)):
                return False
        if self._waits_its_turn(item):
            return False
        if item.step.barrier:
            return all(not q or q[0].index >= item.index for q in self._queues.values()) and all(
                other.index >= item.index for other in self._running.values()
            )
        return True

    def _waits_its_turn(self, item: _Item) -> bool:
        """A one-at-a-time step is running on another host for which it is one-at-a-time too."""
        if not item.step.one_at_a_time(item.host):
            return False
        return any(
            other.step.name == item.step.name and other.step.one_at_a_time(other.host)
            for other in self._running.values()
        )

    def _hosts_with(self, step_name: str) -> list[Host]:
        step = next((s for s in self.steps if s.name == step_name), None)
        if step is None:
            return []
        return [h for h in self.hosts if self.includes(step, h)]

    def _blocked_by(self, item: _Item) -> str | None:
        """Why ``item`` can never run: a required step failed, was skipped or never ran somewhere."""
        for name in item.step.requires:
            for host in self._hosts_with(name):
                outcome = self._done.get((host.name, name))
                if outcome in (Outcome.FAILED, Outcome.UNREACHABLE, Outcome.SKIPPED):
                    return f"{name} did not complete on {host.name}"
        return None

    def _start(self, pool: ThreadPoolExecutor, item: _Item) -> None:
        self.ctx.events.emit(Event("step-start", {"host": item.host.name, "step": item.step.name}))
        self._running[pool.submit(self._attempts, item)] = item

    def _attempts(self, item: _Item) -> StepResult:
        """Run one step on one host, retrying transient errors when the step is safe to repeat."""
        with about_host(item.host.name):  # library log records of this thread belong to this host
            return self._attempt_until_done(item)

    def _attempt_until_done(self, item: _Item) -> StepResult:
        attempt = 1
        started = time.monotonic()  # seconds cover every attempt and the waits between them
        while True:
            try:
                changes = self._execute(item)
                return StepResult.done(item, changes, attempt, time.monotonic() - started)
            except Exception as exc:  # every failure becomes an outcome, never a crash
                if not self._should_retry(item, exc, attempt):
                    return classify(item, exc, attempt, time.monotonic() - started, traceback.format_exc())
                self._retry(item, exc, attempt)
                attempt += 1

    def _execute(self, item: _Item) -> list[Change]:
        deadline = time.monotonic() + item.step.time_limit(item.host)
        pool = self.ctx.pool
        view = pool.view(item.host, deadline) if item.step.connects else pool.detached(item.host, deadline)
        changes = item.step.check(view, self.ctx)
        if changes and not self.ctx.read_only:
            handle = (
                pool.handle(item.host, deadline) if item.step.connects else pool.detached(item.host, deadline)
            )
            item.step.apply(handle, self.ctx, changes)
        return changes

    def _should_retry(self, item: _Item, exc: Exception, attempt: int) -> bool:
        transient = isinstance(exc, TransportError) and exc.transient
        return transient and item.step.retry_safe and attempt <= self.options.retries and not self._stopped

    def _retry(self, item: _Item, exc: Exception, attempt: int) -> None:
        delay = self.options.backoff * 2 ** (attempt - 1)
        data = {"host": item.host.name, "step": item.step.name, "attempt": attempt, "error": str(exc)}
        self.ctx.events.emit(Event("retry", {**data, "delay": delay}))
        self.ctx.pool.reset(item.host)
        self._sleep(delay)

    def _finish(self, item: _Item, result: StepResult) -> None:
        self._record(item, result)
        if result.outcome is Outcome.UNREACHABLE:  # the host's other steps are unreachable too, not skipped
            self._skip_host(
                item.host, f"not run: the host was unreachable in {item.step.name}", result.outcome
            )
        elif result.outcome is Outcome.FAILED:
            self._skip_host(item.host, f"{item.step.name} failed on this host")
        stops = result.outcome in (Outcome.FAILED, Outcome.UNREACHABLE)
        if stops and not self.options.continue_on_error:
            self._stopped = True

    def _record(self, item: _Item, result: StepResult) -> None:
        self._done[(item.host.name, item.step.name)] = result.outcome
        self.report.results.append(result)
        self.ctx.events.emit(Event("step-end", result.to_json()))

    def _skip_host(self, host: Host, reason: str, outcome: Outcome = Outcome.SKIPPED) -> None:
        for item in self._queues[host.name]:
            self._record(item, StepResult.not_run(item, reason, outcome))
        self._queues[host.name] = []

    def _skip_blocked(self) -> None:
        """Nothing runs and nothing is ready: whatever remains waits on something that will never happen."""
        for host in self.hosts:
            self._skip_host(host, "blocked: a step it depends on cannot run")

    def _skip_rest(self, reason: str) -> None:
        for host in self.hosts:
            self._skip_host(host, reason)
