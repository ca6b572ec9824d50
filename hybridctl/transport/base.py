"""The interface every transport implements, its result value and its errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from hybridctl.commands import Command
from hybridctl.errors import ExitCode, HybridctlError

STDERR_TAIL_LINES = 20

REPORT_SECONDS = 1.0
"""How often a running transfer reports its bytes."""

ByteProgress = Callable[[int, int | None], None]
"""Hears a running transfer: bytes so far, and the total (None when the other side did not say)."""

ProgressSink = Callable[[str], None]
"""Receives what a running command reports about its progress, while it runs: over SSH each complete line
of its stdout, over WinRM the status (``Write-Progress -Status``) of each progress record."""


@dataclass(frozen=True)
class Result:
    """What a remote command did. ``command`` is the display form, secrets already masked."""

    command: str
    exit_code: int
    stdout: str
    stderr: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """The last lines of stderr, for summaries."""
        return "\n".join(self.stderr.rstrip().splitlines()[-lines:])


@dataclass(frozen=True)
class PutResult:
    """What an upload did."""

    remote_path: str
    size: int
    sha256: str
    duration: float = 0.0


class TransferReports:
    """Hands a ByteProgress the bytes moved so far, at most once per REPORT_SECONDS, and at the end."""

    def __init__(self, sink: ByteProgress | None, total: int | None) -> None:
        self._sink, self._total = sink, total
        self._last = time.monotonic()
        self.done = 0

    def moved(self, count: int) -> None:
        """``count`` more bytes went through."""
        self.done += count
        if self._sink is not None and time.monotonic() - self._last >= REPORT_SECONDS:
            self._sink(self.done, self._total)
            self._last = time.monotonic()

    def end(self) -> None:
        """The transfer is complete: the last report."""
        if self._sink is not None:
            self._sink(self.done, self._total)


def size_of(source: bytes | Path) -> int:
    """How many bytes an upload of ``source`` moves."""
    return len(source) if isinstance(source, bytes) else source.stat().st_size


class TransportError(HybridctlError):
    """A transport could not do what it was asked. ``transient`` errors may be retried by safe steps."""

    transient: bool = False
    unreachable: bool = False
    reached: bool = False  # the host answered, then refused (key, credentials, sudo, certificate)

    def __init__(self, host: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{host}: {message}", hint=hint)
        self.host = host


class UnreachableError(TransportError):
    """The host cannot be reached (refused, timed out, name unknown)."""

    transient = True
    unreachable = True
    exit_code = ExitCode.UNREACHABLE


class ConnectionLostError(UnreachableError):
    """The connection dropped while a command ran; its outcome on the host is unknown."""


class AuthenticationError(TransportError):
    """The host refused our credentials. Never retried: retrying cannot fix a wrong password."""

    unreachable = True
    reached = True
    exit_code = ExitCode.UNREACHABLE


class HostKeyError(TransportError):
    """The host's SSH key is unknown (strict mode) or changed. A hard failure, never retried."""

    reached = True

    exit_code = ExitCode.UNREACHABLE


class TLSValidationError(TransportError):
    """The host's TLS certificate did not validate against the configured CA bundle."""

    unreachable = True
    reached = True
    exit_code = ExitCode.UNREACHABLE


class SudoPasswordError(TransportError):
    """``sudo -n`` needs a password; hybridctl never types one."""

    reached = True


class CommandTimeoutError(TransportError):
    """A command ran past its timeout and was ended on the host."""

    def __init__(self, host: str, command: str, timeout: float) -> None:
        super().__init__(host, f"command timed out after {timeout:g}s and was stopped: {command}")
        self.command = command
        self.timeout = timeout


class CommandFailedError(HybridctlError):
    """A command exited non-zero. Carries the whole result; its message stays short."""

    def __init__(self, host: str, result: Result, context: str = "") -> None:
        what = f"{context}: " if context else ""
        super().__init__(f"{host}: {what}{result.command} exited {result.exit_code}")
        self.host = host
        self.result = result


@runtime_checkable
class Transport(Protocol):
    """Run commands and move files on one host. Implementations keep one connection for the whole run."""

    host: str

    def run(
        self, command: Command, timeout: float | None = None, progress: ProgressSink | None = None
    ) -> Result:
        """Run ``command``; a non-zero exit is a Result, not an exception. Raises TransportError.

        ``progress`` hears the command's progress reports while it runs (see ProgressSink).
        """
        ...

    def put(
        self, source: bytes | Path, remote_path: str, mode: int = 0o644, progress: ByteProgress | None = None
    ) -> PutResult:
        """Upload to a temporary name, verify sha256, then rename into place atomically.

        ``progress`` hears the bytes sent so far about once a second, and at the end.
        """
        ...

    def get(self, remote_path: str) -> bytes:
        """Download a file's bytes."""
        ...

    def close(self) -> None:
        """Close the connection (idempotent)."""
        ...


WITHHELD = "(output withheld: it may hold credentials)"


def loggable(command: Command, result: Result) -> Result:
    """``result`` as the logs may see it: without the stdout of a command marked ``sensitive``."""
    if not command.sensitive or not result.stdout:
        return result
    return Result(result.command, result.exit_code, WITHHELD, result.stderr, result.duration)


class CommandLog(Protocol):
    """Receives every command a transport runs, for the per-host log (already masked)."""

    def command(self, host: str, display: str, result: Result) -> None:
        """A command finished."""
        ...

    def event(self, host: str, message: str) -> None:
        """Something else happened on the connection (connect, upload, reconnect)."""
        ...


class NullLog:
    """A CommandLog that drops everything."""

    def command(self, host: str, display: str, result: Result) -> None:
        """Drop."""

    def event(self, host: str, message: str) -> None:
        """Drop."""
