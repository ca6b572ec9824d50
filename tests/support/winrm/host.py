"""The simulated Windows host: a machine model plus handlers that answer hybridctl's scripts by identity.

A handler is ``handler(ctx: ScriptContext) -> None``. It reads ``ctx.params`` (the ``add_parameter``
values, as data), changes ``ctx.machine``, and answers through ``ctx.output`` (objects), ``ctx.error``
(non-terminating: error stream only, like ``Write-Error``), or ``raise ScriptError`` / ``ctx.fail`` (a
terminating error: the pipeline fails). Slow handlers call ``ctx.sleep`` or ``ctx.check_stopped`` so a
ctrl_c Signal stops them. Scripts without a registered handler are refused, as are parameters the script's
``param()`` block does not declare (PowerShell refuses those too).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, Protocol

from hybridctl.commands import script_identity
from tests.support.winrm.machine import InvalidPathError, ScriptCall, WindowsMachine

_PARAM_START = re.compile(r"^\s*param\s*\(", re.IGNORECASE | re.MULTILINE)
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_AUTOMATIC = {"true", "false", "null", "env"}


class ScriptError(Exception):
    """A terminating error: the pipeline fails (``had_errors``) with this message."""

    def __init__(self, message: str, *, error_id: str = "HybridctlSimulatedError", category: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.error_id = error_id
        self.category = category


class StopRequested(Exception):
    """Raised inside a handler when the client stopped the pipeline (ctrl_c Signal)."""


class OutputSink(Protocol):
    """Where a running script's streams go (the PSRP pipeline)."""

    def output(self, value: Any) -> None:
        """An output object."""

    def error(self, message: str, error_id: str) -> None:
        """A non-terminating error record."""

    def warning(self, message: str) -> None:
        """A warning record."""

    def progress(self, activity: str, status: str, percent: int) -> None:
        """A progress record (``Write-Progress``)."""


class PowerControl(Protocol):
    """What the endpoint lets the host do to the network side: restart, drop connections."""

    def schedule_restart(self, delay: float) -> None:
        """Restart the host ``delay`` seconds from now."""

    def drop_connections(self) -> None:
        """Close every open TCP connection now."""


class ScriptContext:
    """What a handler gets: the call, the machine, the output streams and the stop flag."""

    def __init__(
        self,
        host: SimulatedWindowsHost,
        identity: str,
        params: Mapping[str, Any],
        sink: OutputSink,
        cancelled: threading.Event,
    ) -> None:
        self.host = host
        self.machine = host.machine
        self.identity = identity
        self.params = dict(params)
        self.sink = sink
        self.cancelled = cancelled
        self.script = ""
        """The script text the client sent (handlers derive effects from its calls)."""

    def param(self, name: str, default: Any = None) -> Any:
        """A parameter's value (case-insensitive name, like PowerShell), or ``default``."""
        for key, value in self.params.items():
            if key.casefold() == name.casefold():
                return value
        return default

    def require(self, name: str) -> Any:
        """A mandatory parameter; a terminating error when it is missing."""
        value = self.param(name)
        if value is None:
            self.fail(f"Cannot bind argument to parameter '{name}' because it is null.")
        return value

    def output(self, value: Any) -> None:
        """Write an object to the output stream."""
        self.sink.output(value)

    def error(self, message: str, error_id: str = "HybridctlSimulatedError") -> None:
        """Write a non-terminating error (``Write-Error``): the pipeline still completes."""
        self.sink.error(message, error_id)

    def warning(self, message: str) -> None:
        """Write a warning record."""
        self.sink.warning(message)

    def progress(self, activity: str, status: str, percent: int = -1) -> None:
        """``Write-Progress -Activity -Status -PercentComplete``: a progress record."""
        self.sink.progress(activity, status, percent)

    def fail(self, message: str, error_id: str = "HybridctlSimulatedError") -> NoReturn:
        """End the script with a terminating error (``throw``)."""
        raise ScriptError(message, error_id=error_id)

    def check_stopped(self) -> None:
        """Raise StopRequested when the client stopped the pipeline."""
        if self.cancelled.is_set():
            raise StopRequested

    def sleep(self, seconds: float) -> None:
        """``Start-Sleep`` that a ctrl_c Signal interrupts."""
        if self.cancelled.wait(seconds):
            raise StopRequested


Handler = Callable[[ScriptContext], None]


class ScriptRegistry:
    """Handlers by script identity (``# hybridctl-script: NAME``)."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, identity: str, handler: Handler) -> None:
        """Answer the script ``identity`` with ``handler`` (replacing any earlier one)."""
        self._handlers[identity] = handler

    def handles(self, identity: str) -> Callable[[Handler], Handler]:
        """Decorator form of ``register``."""

        def decorate(handler: Handler) -> Handler:
            self.register(identity, handler)
            return handler

        return decorate

    def get(self, identity: str) -> Handler | None:
        """The handler for ``identity``, if any."""
        return self._handlers.get(identity)

    def after_first_run(self, identity: str, then: Handler) -> list[ScriptContext]:
        """Make ``identity``'s handler run ``then`` once, right after its first run (a one-shot fault, e.g. a
        restart); returns the contexts it fired in (empty until it did)."""
        original = self._handlers[identity]
        fired: list[ScriptContext] = []

        def handler(ctx: ScriptContext) -> None:
            original(ctx)
            if not fired:
                fired.append(ctx)
                then(ctx)

        self.register(identity, handler)
        return fired

    def __contains__(self, identity: object) -> bool:
        return identity in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._handlers))


class SimulatedWindowsHost:
    """The Windows host behind a WinRM test endpoint: machine state plus script handlers."""

    def __init__(self, machine: WindowsMachine | None = None, scripts: ScriptRegistry | None = None) -> None:
        self.machine = machine or WindowsMachine()
        self.scripts = scripts or ScriptRegistry()
        self.power: PowerControl | None = None

    def run(
        self, script: str, params: Mapping[str, Any], sink: OutputSink, cancelled: threading.Event
    ) -> None:
        """Run one script: StopRequested when stopped, ScriptError for a terminating error."""
        identity, handler = self._resolve(script, params)
        call = ScriptCall(identity, dict(params))
        with self.machine.lock:
            self.machine.history.append(call)
        try:
            context = ScriptContext(self, identity, params, sink, cancelled)
            context.script = script
            handler(context)
        except StopRequested:
            call.outcome = "stopped"
            raise
        except ScriptError:
            call.outcome = "failed"
            raise
        except InvalidPathError as exc:
            call.outcome = "failed"
            raise ScriptError(str(exc), error_id="System.ArgumentException") from None
        call.outcome = "completed"

    def _resolve(self, script: str, params: Mapping[str, Any]) -> tuple[str, Handler]:
        try:
            identity = script_identity(script)
        except ValueError:
            raise ScriptError(
                "The simulated Windows host only runs hybridctl scripts (no '# hybridctl-script:' header).",
                error_id="UnknownScript",
            ) from None
        handler = self.scripts.get(identity)
        if handler is None:
            raise ScriptError(
                f"The simulated Windows host has no handler for script '{identity}'.",
                error_id="UnknownScript",
            )
        _check_parameters(script, params)
        return identity, handler

    def restart(self, delay: float) -> None:
        """Ask the endpoint to restart the host in ``delay`` seconds (what ``shutdown /r /t N`` does)."""
        if self.power is None:
            raise ScriptError("this simulated host has no endpoint to restart", error_id="NoPowerControl")
        self.power.schedule_restart(delay)


def declared_parameters(script: str) -> set[str] | None:
    """Case-folded names in the script's ``param()`` block; None when it has no block."""
    match = _PARAM_START.search(script)
    if match is None:
        return None
    depth, end = 1, match.end()
    while depth and end < len(script):
        depth += {"(": 1, ")": -1}.get(script[end], 0)
        end += 1
    names = {name.casefold() for name in _VARIABLE.findall(script[match.end() : end])}
    return names - _AUTOMATIC


def _check_parameters(script: str, params: Mapping[str, Any]) -> None:
    declared = declared_parameters(script) or set()
    for name in params:
        if name.casefold() not in declared:
            raise ScriptError(
                f"A parameter cannot be found that matches parameter name '{name}'.",
                error_id="NamedParameterNotFound",
            )
