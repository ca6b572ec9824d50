"""One connection per host for the whole run, opened on first use and shared by every step."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hybridctl.commands import Command
from hybridctl.inventory.models import Host
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.transport.base import (
    ByteProgress,
    ProgressSink,
    PutResult,
    Result,
    Transport,
    UnreachableError,
)

TransportFactory = Callable[[Host], Transport]


@dataclass
class _Connection:
    transport: Transport
    lock: threading.Lock


class ConnectionPool:
    """Opens transports lazily through ``factory`` and hands out views and handles on them."""

    def __init__(self, factory: TransportFactory) -> None:
        self._factory = factory
        self._connections: dict[str, _Connection] = {}
        self._opening: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _connection(self, host: Host) -> _Connection:
        with self._guard:
            opening = self._opening.setdefault(host.name, threading.Lock())
        with opening:  # connect outside the pool-wide lock: hosts connect in parallel
            existing = self._connections.get(host.name)
            if existing is not None:
                return existing
            connection = _Connection(self._factory(host), threading.Lock())
            self._connections[host.name] = connection
            return connection

    def view(self, host: Host, deadline: float | None = None) -> HostView:
        """A read-only view of ``host`` (connects if needed)."""
        connection = self._connection(host)
        return HostView(host, connection.transport, connection.lock, deadline=deadline)

    def handle(self, host: Host, deadline: float | None = None) -> HostHandle:
        """A full handle on ``host`` (connects if needed)."""
        connection = self._connection(host)
        return HostHandle(host, connection.transport, connection.lock, deadline=deadline)

    def detached(self, host: Host, deadline: float | None = None) -> HostHandle:
        """A handle on ``host`` that never connects: any command or upload reports it unreachable."""
        return HostHandle(host, _Detached(host.name), threading.Lock(), deadline=deadline)

    def reset(self, host: Host) -> None:
        """Drop ``host``'s connection (after a transient error or a reboot); the next use reconnects."""
        with self._guard:
            connection = self._connections.pop(host.name, None)
        if connection is not None:
            _close_quietly(connection.transport)

    def close(self) -> None:
        """Close every connection."""
        with self._guard:
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            _close_quietly(connection.transport)


class _Detached:
    """The transport of a step that must not touch its host."""

    def __init__(self, host: str) -> None:
        self.host = host

    def _refuse(self) -> UnreachableError:
        return UnreachableError(self.host, "this step works through another host and does not connect here")

    def run(
        self, command: Command, timeout: float | None = None, progress: ProgressSink | None = None
    ) -> Result:
        """Refused."""
        raise self._refuse()

    def put(
        self, source: bytes | Path, remote_path: str, mode: int = 0o644, progress: ByteProgress | None = None
    ) -> PutResult:
        """Refused."""
        raise self._refuse()

    def get(self, remote_path: str) -> bytes:
        """Refused."""
        raise self._refuse()

    def close(self) -> None:
        """Nothing to close."""


def _close_quietly(transport: Transport) -> None:
    with contextlib.suppress(Exception):  # closing a dead connection must not mask the real error
        transport.close()
