"""Test doubles that tests and users can import: an in-memory host behind a fake transport."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.commands import Command, PosixCommand, PsCommand
from hybridctl.transport.base import (
    ByteProgress,
    CommandLog,
    CommandTimeoutError,
    ConnectionLostError,
    NullLog,
    ProgressSink,
    PutResult,
    Result,
    UnreachableError,
    loggable,
)

Reply = Result | tuple[int, str, str] | str
Responder = Callable[[Command, float | None], Reply]


@dataclass
class FakeHost:
    """A host's state as a fake transport sees it: files, modes and command responders."""

    name: str
    os: str = "linux"
    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    history: list[Command] = field(default_factory=list)
    responders: dict[str, Responder] = field(default_factory=dict)
    reachable: bool = True
    drop_next_command: bool = False

    def on(self, key: str, responder: Responder | Reply) -> None:
        """Answer commands whose program (POSIX argv[0]) or script name (PowerShell) is ``key``."""
        self.responders[key] = responder if callable(responder) else _constant(responder)

    def key_of(self, command: Command) -> str:
        """The responder key for ``command``."""
        if isinstance(command, PsCommand):
            return command.name
        return command.argv[0]


class FakeTransport:
    """A Transport backed by a FakeHost; no network. Unknown commands exit 127."""

    def __init__(self, host: FakeHost, log: CommandLog | None = None) -> None:
        self.host = host.name
        self.fake = host
        self.log = log or NullLog()
        self.closed = False

    def _ensure_reachable(self) -> None:
        if not self.fake.reachable:
            raise UnreachableError(self.host, "connection refused (fake host is down)")

    def run(
        self, command: Command, timeout: float | None = None, progress: ProgressSink | None = None
    ) -> Result:
        """Answer from the host's responders (a POSIX command's stdout lines go to ``progress``)."""
        self._ensure_reachable()
        self.fake.history.append(command)
        if self.fake.drop_next_command:
            self.fake.drop_next_command = False
            raise ConnectionLostError(self.host, "connection lost while the command ran")
        start = time.monotonic()
        responder = self.fake.responders.get(self.fake.key_of(command))
        missing: Reply = (127, "", f"{self.fake.key_of(command)}: not found")
        reply = responder(command, timeout) if responder else missing
        result = _as_result(_display(command), reply, time.monotonic() - start)
        if progress is not None and not isinstance(command, PsCommand):
            for line in result.stdout.splitlines():
                progress(line)
        self.log.command(self.host, result.command, loggable(command, result))
        return result

    def put(
        self, source: bytes | Path, remote_path: str, mode: int = 0o644, progress: ByteProgress | None = None
    ) -> PutResult:
        """Store bytes in the fake file system (one report of the whole size to ``progress``)."""
        self._ensure_reachable()
        data = source if isinstance(source, bytes) else source.read_bytes()
        if progress is not None:
            progress(len(data), len(data))
        self.fake.files[remote_path] = data
        self.fake.modes[remote_path] = mode
        digest = hashlib.sha256(data).hexdigest()
        self.log.event(self.host, f"put {remote_path} ({len(data)} bytes, sha256 {digest})")
        return PutResult(remote_path, len(data), digest)

    def get(self, remote_path: str) -> bytes:
        """Read bytes from the fake file system."""
        self._ensure_reachable()
        try:
            return self.fake.files[remote_path]
        except KeyError:
            raise FileNotFoundError(remote_path) from None

    def close(self) -> None:
        """Mark closed."""
        self.closed = True


def _constant(reply: Reply) -> Responder:
    def respond(_command: Command, _timeout: float | None) -> Reply:
        return reply

    return respond


def sleeping(seconds: float) -> Responder:
    """A responder that takes ``seconds`` unless the timeout ends it first."""

    def respond(command: Command, timeout: float | None) -> Reply:
        if timeout is not None and seconds > timeout:
            time.sleep(timeout)
            raise CommandTimeoutError("fake", _display(command), timeout)
        time.sleep(seconds)
        return 0, "", ""

    return respond


def _display(command: Command) -> str:
    return command.render() if isinstance(command, PosixCommand) else command.describe()


def _as_result(display: str, reply: Reply, duration: float) -> Result:
    if isinstance(reply, Result):
        return reply
    if isinstance(reply, str):
        return Result(display, 0, reply, "", duration)
    code, out, err = reply
    return Result(display, code, out, err, duration)
