"""One command's connection to the cluster: state directory, lock, masking, logs, journal, events, pool.

Opened and closed together so that every exit path (errors, Ctrl-C, SIGTERM) releases the lock and
closes the connections.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from pydantic import BaseModel, SecretStr

from hybridctl.appenv import AppEnv
from hybridctl.connections import ConnectionPool, TransportFactory
from hybridctl.errors import ExitCode
from hybridctl.events import EventSink, Fanout, JsonLines, Outcome
from hybridctl.inventory.models import Cluster, Host
from hybridctl.library_logs import routed_to
from hybridctl.masking import Masker
from hybridctl.runner import Runner, RunnerOptions, RunReport, Selector
from hybridctl.state import HostLogs, Journal, RunLock, StateDir, default_state_dir
from hybridctl.steps.base import Step
from hybridctl.steps.context import RunState, StepContext
from hybridctl.transport.kerberos import KerberosTickets, remove_stale_cache


@dataclass(frozen=True)
class RunSettings:
    """Options of commands that connect to hosts."""

    state_dir: Path | None = None
    break_lock: bool = False
    accept_new_host_keys: bool = False
    linux_parallel: int = 20
    windows_parallel: int = 5
    continue_on_error: bool = False
    junit: Path | None = None
    connect_timeout: float = 10.0
    rotate_kube_proxy_token: bool = False

    def runner_options(self) -> RunnerOptions:
        """The runner's share of the settings."""
        return RunnerOptions(self.linux_parallel, self.windows_parallel, self.continue_on_error)


def inventory_secrets(model: BaseModel) -> list[SecretStr]:
    """Every SecretStr anywhere in an inventory model."""
    found: list[SecretStr] = []
    for name in type(model).model_fields:
        found += _secrets_in(getattr(model, name))
    return found


def _secrets_in(value: Any) -> list[SecretStr]:
    if isinstance(value, SecretStr):
        return [value]
    if isinstance(value, BaseModel):
        return inventory_secrets(value)
    if isinstance(value, list | tuple):
        return [s for item in value for s in _secrets_in(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _secrets_in(item)]
    return []


def exit_code_of(report: RunReport) -> int:
    """The documented exit code of a run."""
    if report.interrupted:
        return ExitCode.INTERRUPTED
    if report.count(Outcome.FAILED):
        return ExitCode.FAILED
    if report.count(Outcome.UNREACHABLE):
        return ExitCode.UNREACHABLE
    return ExitCode.OK


class Session:
    """Holds the lock and the connections of one command."""

    def __init__(
        self,
        env: AppEnv,
        cluster: Cluster,
        settings: RunSettings,
        command: str,
        factory: TransportFactory | None = None,
        *,
        exclusive: bool = True,
    ) -> None:
        """``exclusive``: hold the cluster's run lock; read-only verbs (status, support-bundle) run beside
        any other run, since a stuck ``up`` is exactly when they are wanted."""
        self.exclusive = exclusive
        self.env = env
        self.cluster = cluster
        self.settings = settings
        self.command = command
        self.run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        root = settings.state_dir or default_state_dir(env.inventory_path(), cluster.name)
        self.state_dir = StateDir(root)
        self.masker = Masker()
        self.masker.add(*inventory_secrets(cluster))
        self._factory = factory
        self._lock: RunLock | None = None
        self._previous_sigterm: Any = None
        self._routing: AbstractContextManager[None] | None = None
        self.logs: HostLogs | None = None
        self.journal: Journal | None = None
        self.pool: ConnectionPool | None = None
        self.tickets: KerberosTickets | None = None
        self.run_state = RunState()

    def __enter__(self) -> Session:
        self.state_dir.ensure()
        if self.settings.junit is not None:  # refuse an unusable report path before any host is touched
            self.settings.junit.parent.mkdir(parents=True, exist_ok=True)
        if self.exclusive:
            self._take_lock()
            if remove_stale_cache(self.state_dir.root):
                self.env.stderr.write("note: removed the Kerberos ticket cache of a run that was killed\n")
        # A read-only session runs beside a locked run: it must not touch that run's cache; it gets its own.
        self.tickets = KerberosTickets(self.state_dir.root if self.exclusive else None)
        self.logs = HostLogs(self.state_dir.log_dir(self.run_id), self.masker)
        self.journal = Journal(self.state_dir.journal_path, self.masker)
        self.pool = ConnectionPool(self._factory or self._default_factory())
        self._routing = routed_to(self.logs)
        self._routing.__enter__()
        self._install_sigterm()
        return self

    def _take_lock(self) -> None:
        self._lock = RunLock(self.state_dir.lock_path, self.command).acquire(
            break_lock=self.settings.break_lock
        )
        if self._lock.stale_removed is not None:
            self.env.stderr.write(f"note: removed a stale lock of {self._lock.stale_removed.describe()}\n")

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._restore_sigterm()
        if self._routing is not None:
            self._routing.__exit__(None, None, None)
        if self.pool is not None:
            self.pool.close()
        if self.tickets is not None:
            self.tickets.destroy()
        if self.journal is not None:
            self.journal.close()
        if self._lock is not None:
            self._lock.release()

    def _default_factory(self) -> TransportFactory:
        from hybridctl.transport.factory import TransportSettings, open_transport

        assert self.logs is not None
        settings = TransportSettings(
            known_hosts=self.state_dir.known_hosts,
            accept_new_host_keys=self.settings.accept_new_host_keys,
            log=self.logs,
            masker=self.masker,
            connect_timeout=self.settings.connect_timeout,
            base_dir=self.env.inventory_path().resolve().parent,
            inventory=self.env.inventory_path(),
            kerberos=self.tickets,
        )
        return lambda host: open_transport(host, settings)

    def _install_sigterm(self) -> None:
        """SIGTERM behaves like Ctrl-C: running steps finish, nothing new starts, the lock is released."""
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)

    def context(self, *, read_only: bool, sinks: Sequence[EventSink] = ()) -> StepContext:
        """A step context over this session's connections."""
        assert self.pool is not None and self.journal is not None and self.logs is not None
        events = Fanout([self.journal, self.logs, *sinks])
        options = {
            "state_dir": self.state_dir.root,
            "run_id": self.run_id,
            "inventory_dir": self.env.inventory_path().resolve().parent,
            "rotate_kube_proxy_token": self.settings.rotate_kube_proxy_token,
        }
        return StepContext(self.cluster, self.pool, events, self.masker, self.run_state, read_only, options)

    def run(
        self,
        hosts: Sequence[Host],
        steps: Sequence[Step],
        *,
        read_only: bool,
        verb: str,
        selector: Selector | None = None,
    ) -> RunReport:
        """Run ``steps`` on ``hosts`` with the live view (or JSON events), then write the JUnit report."""
        sinks, view = self._sinks(hosts, steps, selector)
        ctx = self.context(read_only=read_only, sinks=sinks)
        names = [h.name for h in hosts]
        ctx.emit("run-start", run=self.run_id, verb=verb, hosts=names, steps=[s.name for s in steps])
        runner = Runner(
            ctx, hosts, steps, self.settings.runner_options(), run_id=self.run_id, selector=selector
        )
        if view is not None:
            with view:
                report = runner.run()
        else:
            report = runner.run()
        ctx.emit(
            "run-end", run=self.run_id, verb=verb, exitCode=exit_code_of(report), summary=_summary(report)
        )
        self._write_junit(report, verb)
        return report

    def _sinks(
        self, hosts: Sequence[Host], steps: Sequence[Step], selector: Selector | None
    ) -> tuple[list[EventSink], Any]:
        if self.env.json:
            return [JsonLines(self.env.stdout, self.masker)], None
        from hybridctl.ui import LineView, LiveView

        if self.env.stderr.isatty():
            chosen = selector or (lambda s, h: True)
            total = sum(1 for h in hosts for s in steps if chosen(s, h) and s.applies_to(h, self.cluster))
            live = LiveView(self.env.err, [h.name for h in hosts], total)
            return [live], live
        return [LineView(self.env.err)], None

    def _write_junit(self, report: RunReport, verb: str) -> None:
        if self.settings.junit is not None:
            from hybridctl.ui import write_junit

            write_junit(self.settings.junit, report, f"hybridctl {verb} {self.cluster.name}")


def _summary(report: RunReport) -> dict[str, dict[str, Any]]:
    hosts: dict[str, dict[str, Any]] = {}
    for result in report.results:
        entry = hosts.setdefault(result.host, {o.value: 0 for o in Outcome} | {"seconds": 0.0})
        entry[result.outcome.value] += 1
        entry["seconds"] = round(entry["seconds"] + result.duration, 3)
    return hosts


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


__all__ = ["RunSettings", "Session", "exit_code_of"]
