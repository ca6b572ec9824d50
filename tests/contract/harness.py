"""The interface a transport under contract test provides, and the fake transport's implementation."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from hybridctl.commands import Command, PosixCommand, posix
from hybridctl.testing import FakeHost, FakeTransport, Reply
from hybridctl.transport.base import CommandTimeoutError, ConnectionLostError, Transport


class Harness(Protocol):
    """A test host reachable through one transport, plus commands that behave the same everywhere."""

    name: str
    exact_exit_codes: bool

    def transport(self) -> Transport:
        """A connected transport to the test host (as an administrator)."""
        ...

    def echo(self, text: str) -> Command:
        """Writes ``text`` to stdout exactly."""
        ...

    def echo_stderr(self, text: str) -> Command:
        """Writes ``text`` to stderr (the error stream on Windows)."""
        ...

    def exit_with(self, code: int) -> Command:
        """Exits with ``code`` (0 = success)."""
        ...

    def sleep(self, seconds: float, marker: str) -> Command:
        """Runs for ``seconds``; identifiable on the host by ``marker``."""
        ...

    def is_running(self, marker: str) -> bool:
        """Whether the command started by ``sleep(..., marker)`` still runs on the host."""
        ...

    def scratch_path(self, name: str) -> str:
        """A writable remote path for a file called ``name``."""
        ...

    def drop_connection(self, transport: Transport) -> None:
        """Kill the transport's connection from outside, while a command runs."""
        ...


class FakeHarness:
    """The contract harness for hybridctl.testing.FakeTransport (an in-memory host)."""

    name = "fake"
    exact_exit_codes = True

    def __init__(self) -> None:
        self.host = FakeHost("fake1")
        self._running: dict[str, threading.Event] = {}
        self._dropped = threading.Event()
        self.host.on("printf", lambda c, t: (0, _arg(c, 2), ""))
        self.host.on("sh", self._shell)
        self.host.on("sleep", self._sleep)

    def _shell(self, command: Command, timeout: float | None) -> Reply:
        script = _arg(command, 2)
        if script.startswith("exit "):
            return int(script.split()[1]), "", ""
        return 0, "", _arg(command, 4)

    def _sleep(self, command: Command, timeout: float | None) -> Reply:
        seconds, marker = float(_arg(command, 1)), _arg(command, 2)
        stop = self._running.setdefault(marker, threading.Event())
        deadline = time.monotonic() + (seconds if timeout is None else min(seconds, timeout))
        try:
            while time.monotonic() < deadline:
                if self._dropped.wait(0.02):
                    raise ConnectionLostError(self.host.name, "connection lost while the command ran")
            if timeout is not None and seconds > timeout:
                raise CommandTimeoutError(self.host.name, str(command), timeout)
            return 0, "", ""
        finally:
            stop.set()

    def transport(self) -> Transport:
        """A fake transport to the in-memory host."""
        self._dropped.clear()
        return FakeTransport(self.host)

    def echo(self, text: str) -> Command:
        """``printf %s TEXT``."""
        return posix("printf", "%s", text)

    def echo_stderr(self, text: str) -> Command:
        """``sh -c 'printf %s "$1" >&2' - TEXT``."""
        return posix("sh", "-c", 'printf %s "$1" >&2', "-", text)

    def exit_with(self, code: int) -> Command:
        """``sh -c 'exit CODE'``."""
        return posix("sh", "-c", f"exit {code}")

    def sleep(self, seconds: float, marker: str) -> Command:
        """A fake sleep that honours timeouts and dropped connections."""
        return posix("sleep", str(seconds), marker)

    def is_running(self, marker: str) -> bool:
        """True until the fake sleep with ``marker`` returned."""
        event = self._running.get(marker)
        return event is not None and not event.is_set()

    def scratch_path(self, name: str) -> str:
        """Paths are keys of an in-memory dict."""
        return f"/scratch/{name}"

    def drop_connection(self, transport: Transport) -> None:
        """Make the running fake command lose its connection."""
        self._dropped.set()


def _arg(command: Command, index: int) -> str:
    assert isinstance(command, PosixCommand)
    return command.argv[index] if index < len(command.argv) else ""
