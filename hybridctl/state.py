"""Run state under ``.hybridctl/<cluster>/``: lock, journal, per-host logs, known_hosts, kubeconfig.

Every write is atomic: whole files are written to a temporary name and renamed; the journal is append-only
JSON Lines where each record is one ``write`` of a complete line, fsynced, so a reader after ``kill -9``
sees whole records (a torn last line is skipped).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.errors import LockHeldError, StateError
from hybridctl.events import Event
from hybridctl.masking import Masker
from hybridctl.transport.base import Result

STATE_DIR_NAME = ".hybridctl"


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def default_state_dir(inventory: Path, cluster: str) -> Path:
    """``.hybridctl/<cluster>/`` beside the inventory file."""
    return inventory.resolve().parent / STATE_DIR_NAME / cluster


@dataclass(frozen=True)
class StateDir:
    """The files of one cluster's run state."""

    root: Path

    @property
    def known_hosts(self) -> Path:
        """The project's SSH known_hosts (mode 0600)."""
        return self.root / "known_hosts"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig fetched after ``up`` (mode 0600)."""
        return self.root / "admin.conf"

    @property
    def journal_path(self) -> Path:
        """The run journal (JSON Lines)."""
        return self.root / "journal.jsonl"

    @property
    def lock_path(self) -> Path:
        """The run lock."""
        return self.root / "lock"

    def log_dir(self, run_id: str) -> Path:
        """Per-host log files of one run."""
        return self.root / "logs" / run_id

    def ensure(self) -> StateDir:
        """Create the directory and its ``logs/`` (both mode 0700: logs show commands and host details)."""
        for directory in (self.root, self.root / "logs"):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            if directory.stat().st_mode & 0o077:
                directory.chmod(0o700)  # made by an older hybridctl with the umask's mode
        return self


def _proc_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (guards against pid reuse); None if it does not run."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else None


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock."""

    holder: str
    pid: int
    machine: str
    started: float
    command: str
    process_start: str | None

    @classmethod
    def mine(cls, command: str) -> LockInfo:
        """A lock record for this process."""
        pid = os.getpid()
        return cls(_user(), pid, socket.gethostname(), time.time(), command, _proc_start_time(pid))

    def is_stale(self) -> bool:
        """True when the holder ran on this machine and is gone (or its pid was reused)."""
        if self.machine != socket.gethostname():
            return False
        running = _proc_start_time(self.pid)
        return running is None or (self.process_start is not None and running != self.process_start)

    def describe(self) -> str:
        """One line for error messages."""
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"{self.holder} (pid {self.pid} on {self.machine}, since {started}, running '{self.command}')"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


class RunLock:
    """An exclusive lock on a cluster's state; a second run fails fast naming the holder."""

    def __init__(self, path: Path, command: str) -> None:
        self.path = path
        self.info = LockInfo.mine(command)
        self.stale_removed: LockInfo | None = None

    def acquire(self, *, break_lock: bool = False) -> RunLock:
        """Take the lock; remove a stale one; with ``break_lock`` remove any holder's lock first."""
        for _ in range(3):
            if self._try_create():
                return self
            holder = self.read()
            if holder is None or break_lock or holder.is_stale():
                self.stale_removed = holder
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            raise LockHeldError(
                f"another hybridctl run holds the lock {self.path}: {holder.describe()}",
                hint="wait for it to finish; if it is dead on another machine, rerun with --break-lock",
            )
        raise StateError(f"could not take the lock {self.path}")

    def _try_create(self) -> bool:
        data = json.dumps(self.info.__dict__).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".lock.", dir=self.path.parent)
        try:
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.link(tmp, self.path)  # atomic: fails if a lock exists, and never exposes a half-written one
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def read(self) -> LockInfo | None:
        """The current holder, or None if the lock is missing or unreadable."""
        try:
            return LockInfo(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        holder = self.read()
        if holder is not None and holder.pid == self.info.pid and holder.machine == self.info.machine:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Journal:
    """Append-only JSON Lines record of every step attempt."""

    def __init__(self, path: Path, masker: Masker) -> None:
        self.path = path
        self._masker = masker
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def emit(self, event: Event) -> None:
        """Append ``step-start``/``step-end``/``run-*`` events as records."""
        if event.kind not in (
            "run-start",
            "step-start",
            "step-end",
            "retry",
            "reboot",
            "download",
            "run-end",
        ):
            return
        line = self._masker.mask(json.dumps(event.to_json(), ensure_ascii=False, default=str)) + "\n"
        os.write(self._fd, line.encode())
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a journal (a torn last line after a crash is skipped)."""
    records = []
    with contextlib.suppress(FileNotFoundError), path.open(encoding="utf-8") as stream:
        for line in stream:
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records


class HostLogs:
    """Per-host log files with every command and its output, secrets masked (implements CommandLog)."""

    def __init__(self, directory: Path, masker: Masker) -> None:
        self.directory = directory
        self._masker = masker
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, host: str) -> Path:
        """The log file of ``host``."""
        return self.directory / f"{host}.log"

    def command(self, host: str, display: str, result: Result) -> None:
        """Record a finished command with its output; every line of a multi-line command is prefixed."""
        first, *rest = display.splitlines() or [""]
        lines = [f"$ {first}", *(f"> {line}" for line in rest)]
        lines.append(f"# exit {result.exit_code} in {result.duration:.3f}s")
        lines += [f"stdout: {line}" for line in result.stdout.splitlines()]
        lines += [f"stderr: {line}" for line in result.stderr.splitlines()]
        self._write(host, lines)

    def event(self, host: str, message: str) -> None:
        """Record a connection event (one prefixed line per line of ``message``)."""
        self._write(host, [f"# {line}" for line in message.splitlines() or [""]])

    def emit(self, event: Event) -> None:
        """Record why a step failed or its host was unreachable, so the log a summary names says so; and
        each ``download`` event (what is fetched, its bytes and rate while it runs, then the total)."""
        data = event.data
        if event.kind == "download":
            self.event(str(data["host"]), f"download: {data.get('message', '')}")
        if event.kind != "step-end" or data.get("outcome") not in ("failed", "unreachable"):
            return
        self.event(str(data["host"]), f"step {data['step']}: {data['outcome']}: {data.get('error', '')}")

    def _write(self, host: str, lines: list[str]) -> None:
        stamp = time.strftime("%H:%M:%S")
        text = "".join(f"{stamp} {host} {self._masker.mask(line)}\n" for line in lines)
        with self.path(host).open("a", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), 0o600)
            stream.write(text)
