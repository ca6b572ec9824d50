"""What a step sees of a host: a read-only view for ``check``, a full handle for ``apply``.

Dry-run is enforced by structure: ``HostView`` has no upload method and refuses commands that are not
marked ``probe``, so a check that would change something fails in tests instead of on a production host.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hybridctl.commands import Command, PosixCommand
from hybridctl.errors import HybridctlError
from hybridctl.inventory.models import Host
from hybridctl.transport.base import (
    ByteProgress,
    CommandFailedError,
    CommandTimeoutError,
    ProgressSink,
    PutResult,
    Result,
    Transport,
)

T = TypeVar("T")


class DryRunViolationError(HybridctlError):
    """A check tried to change a host."""


class StepTimeoutError(HybridctlError):
    """A step used up its time limit."""


@dataclass
class HostFacts:
    """What hybridctl learned about a host during this run (probed, never from the inventory)."""

    values: dict[str, Any] = field(default_factory=dict)


class HostView:
    """Read-only access to one host: probe commands and file reads."""

    def __init__(
        self, host: Host, transport: Transport, lock: threading.Lock, *, deadline: float | None = None
    ) -> None:
        self.host = host
        self.name = host.name
        self._transport = transport
        self._deadline = deadline
        self._lock = lock  # one per connection: several steps may reach the same host

    @property
    def is_windows(self) -> bool:
        """True for Windows hosts."""
        return self.host.is_windows

    def run(self, command: Command, *, timeout: float | None = None, check: bool = True) -> Result:
        """Run a probe command; with ``check`` a non-zero exit raises CommandFailedError."""
        if not command.probe:
            raise DryRunViolationError(f"{self.name}: a check tried to run a non-probe command: {command}")
        return self._run(command, timeout, check)

    def get(self, path: str) -> bytes | None:
        """A file's bytes, or None when it does not exist."""
        try:
            with self._lock:
                return self._transport.get(path)
        except FileNotFoundError:
            return None

    def waiting(self, wait: Callable[[Transport], T]) -> T:
        """Run ``wait`` (e.g. for a restart already under way) on this host's connection, probes only.

        The connection it gets refuses commands that are not probes and uploads, as this view does; it may
        reconnect. The time spent waiting does not count against the step's time limit.
        """
        started = time.monotonic()
        try:
            with self._lock:
                return wait(_ProbesOnly(self.name, self._transport))
        finally:
            if self._deadline is not None:
                self._deadline += time.monotonic() - started

    def _run(
        self, command: Command, timeout: float | None, check: bool, progress: ProgressSink | None = None
    ) -> Result:
        if isinstance(command, PosixCommand) and self.host.ssh is not None:
            command = command.as_root(self.host.ssh.uses_sudo)
        with self._lock:
            result = self._transport.run(command, timeout=self._limit(timeout), progress=progress)
        if check and not result.ok:
            raise CommandFailedError(self.name, result)
        return result

    def _limit(self, timeout: float | None) -> float | None:
        if self._deadline is None:
            return timeout
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise StepTimeoutError(f"{self.name}: the step ran out of time")
        return remaining if timeout is None else min(timeout, remaining)


class _ProbesOnly:
    """A connection that only runs probe commands (and reconnects): what ``HostView.waiting`` hands out."""

    def __init__(self, name: str, transport: Transport) -> None:
        self.name, self._transport = name, transport
        self.host = transport.host  # the name transports report in errors

    def run(
        self, command: Command, timeout: float | None = None, progress: ProgressSink | None = None
    ) -> Result:
        """Run a probe command; anything else is a DryRunViolationError."""
        if not command.probe:
            raise DryRunViolationError(f"{self.name}: a wait tried to run a non-probe command: {command}")
        return self._transport.run(command, timeout=timeout, progress=progress)

    def put(
        self, source: bytes | Path, remote_path: str, mode: int = 0o644, progress: ByteProgress | None = None
    ) -> PutResult:
        """Uploads change the host: refused."""
        raise DryRunViolationError(f"{self.name}: a wait tried to upload {remote_path}")

    def get(self, remote_path: str) -> bytes:
        """A file's bytes."""
        return self._transport.get(remote_path)

    def close(self) -> None:
        """The connection belongs to the run, not to the wait."""

    def reconnect(self) -> None:
        """Open a fresh session (after a restart); only transports that can do it have this."""
        reconnect: Callable[[], None] | None = getattr(self._transport, "reconnect", None)
        if reconnect is None:
            raise HybridctlError(f"{self.name}: {type(self._transport).__name__} cannot reconnect")
        reconnect()


class HostHandle(HostView):
    """Full access to one host, given to ``apply``."""

    def run(
        self,
        command: Command,
        *,
        timeout: float | None = None,
        check: bool = True,
        progress: ProgressSink | None = None,
    ) -> Result:
        """Run any command; with ``check`` a non-zero exit raises CommandFailedError.

        ``progress`` hears the command's progress reports while it runs (a long download).
        """
        return self._run(command, timeout, check, progress)

    def put(
        self, data: bytes | Path, path: str, mode: int = 0o644, progress: ByteProgress | None = None
    ) -> PutResult:
        """Upload atomically (temporary name, hash check, rename); ``progress`` hears the bytes sent."""
        with self._lock:
            return self._transport.put(data, path, mode, progress=progress)

    @property
    def transport(self) -> Transport:
        """The underlying transport (for primitives such as reboot-and-wait)."""
        return self._transport


__all__ = [
    "CommandFailedError",
    "CommandTimeoutError",
    "DryRunViolationError",
    "HostFacts",
    "HostHandle",
    "HostView",
    "StepTimeoutError",
]
