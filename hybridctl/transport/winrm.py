"""WinRM transport: one pypsrp RunspacePool per Windows host for the whole run.

A reused pool costs 2 HTTP requests per script (Command + Receive) where ``Client.execute_ps`` costs 6.
Scripts are constant ``PsCommand`` texts; their values travel as parameters (``add_parameter``), never
pasted into the script. Both error channels count as failure: non-terminating errors (``streams.error``,
``had_errors`` still False) and a failed pipeline (``had_errors``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from pypsrp.complex_objects import PSInvocationState
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from hybridctl.commands import Command, PsCommand, PsValue, powershell
from hybridctl.inventory.models import Host, WinRMConnection
from hybridctl.masking import Masker
from hybridctl.resources import powershell_script
from hybridctl.transport.base import (
    ByteProgress,
    CommandLog,
    CommandTimeoutError,
    NullLog,
    ProgressSink,
    PutResult,
    Result,
    TransferReports,
    TransportError,
    loggable,
    size_of,
)
from hybridctl.transport.kerberos import KerberosTickets, check_user_ticket
from hybridctl.transport.winrm_errors import map_error
from hybridctl.transport.winrm_settings import DEFAULT_CONNECT_TIMEOUT, check_settings, wsman_options
from hybridctl.transport.winrm_tls import pin_server_name

# 192 KiB raw is 256 KiB of base64: with the script it still fits one PSRP fragment of a 500 KiB envelope,
# so each chunk is exactly one Command + one Receive.
CHUNK_BYTES = 192 * 1024
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_RUNNING = PSInvocationState.RUNNING


class UploadError(TransportError):
    """An upload failed on the host; a sha256 mismatch (corrupted transfer) is transient."""

    def __init__(self, host: str, message: str, *, transient: bool = False) -> None:
        super().__init__(host, message)
        self.transient = transient


@cache
def _script(name: str) -> str:
    return powershell_script(name)


class WinRMTransport:
    """Run PowerShell scripts and move files on one Windows host through one reused RunspacePool."""

    def __init__(
        self,
        host: str,
        address: str,
        settings: WinRMConnection,
        *,
        log: CommandLog | None = None,
        masker: Masker | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        tickets: KerberosTickets | None = None,
    ) -> None:
        check_settings(host, settings)
        self.host = host
        self.address = address
        self._settings = settings
        self._log = log or NullLog()
        self._masker = masker or Masker()
        self._masker.add(settings.password)
        self._connect_timeout = connect_timeout
        self._lock = threading.RLock()
        self._pool: RunspacePool | None = None
        self._own_tickets = tickets is None and settings.auth == "kerberos" and settings.password is not None
        self._tickets = KerberosTickets() if self._own_tickets else tickets

    @classmethod
    def for_host(
        cls,
        host: Host,
        *,
        log: CommandLog | None = None,
        masker: Masker | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        tickets: KerberosTickets | None = None,
    ) -> WinRMTransport:
        """A transport for an inventory host; the pool opens with the first command (or ``open``)."""
        settings = host.winrm or WinRMConnection()
        return cls(
            host.name,
            host.address,
            settings,
            log=log,
            masker=masker,
            connect_timeout=connect_timeout,
            tickets=tickets,
        )

    @classmethod
    def connect(
        cls,
        host: Host,
        *,
        log: CommandLog | None = None,
        masker: Masker | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        tickets: KerberosTickets | None = None,
    ) -> WinRMTransport:
        """A transport with its pool already open; raises TransportError subclasses."""
        transport = cls.for_host(
            host, log=log, masker=masker, connect_timeout=connect_timeout, tickets=tickets
        )
        transport.open()
        return transport

    def __repr__(self) -> str:
        return f"WinRMTransport(host={self.host!r}, url={self.url!r}, auth={self._settings.auth!r})"

    @property
    def url(self) -> str:
        """The WS-Management endpoint URL."""
        return f"{self._settings.scheme}://{self.address}:{self._settings.effective_port}/wsman"

    def run(
        self, command: Command, timeout: float | None = None, progress: ProgressSink | None = None
    ) -> Result:
        """Run a PsCommand in the pool; a failure is a Result with exit code 1 and the error text.

        ``progress`` hears the status of each progress record (``Write-Progress``) as it arrives.
        """
        command = _require_ps(command)
        self._masker.add(*(str(v) for n, v in command.parameters if n in command.secret_parameters))
        display = self._masker.mask(command.describe())
        start = time.monotonic()
        try:
            with self._lock:
                ps = self._invoke(command, display, timeout, progress)
        except TransportError as exc:
            self._log.event(self.host, f"{display}: {exc.message}")
            raise
        result = self._result(display, ps, time.monotonic() - start)
        self._log.command(self.host, display, loggable(command, result))
        return result

    def put(
        self, source: bytes | Path, remote_path: str, mode: int = 0o644, progress: ByteProgress | None = None
    ) -> PutResult:
        """Upload in chunks to a temporary file, then verify sha256 and move it into place.

        ``mode`` is ignored: Windows files have ACLs, not POSIX modes.
        """
        start = time.monotonic()
        temp = f"{remote_path}.hybridctl-{uuid.uuid4().hex[:12]}.part"
        digest, size = hashlib.sha256(), 0
        reports = TransferReports(progress, size_of(source))
        with self._lock:
            for chunk in _chunks(source):
                self._put_chunk(temp, size, chunk)
                digest.update(chunk)
                size += len(chunk)
                reports.moved(len(chunk))
            self._commit(temp, remote_path, digest.hexdigest())
        reports.end()
        result = PutResult(remote_path, size, digest.hexdigest(), time.monotonic() - start)
        self._log.event(self.host, f"put {remote_path} ({size} bytes, sha256 {result.sha256})")
        return result

    def get(self, remote_path: str) -> bytes:
        """Download a file in chunks; FileNotFoundError when it does not exist."""
        parts: list[bytes] = []
        offset, size = 0, None
        with self._lock:
            while size is None or offset < size:
                reply = self._get_chunk(remote_path, offset)
                parts.append(base64.b64decode(reply["data"]))
                offset, size = offset + len(parts[-1]), int(reply["size"])
                if not parts[-1]:
                    break
        self._log.event(self.host, f"get {remote_path} ({offset} bytes)")
        return b"".join(parts)

    def open(self) -> None:
        """Open the runspace pool now, if it is not open yet."""
        with self._lock:
            if self._pool is None:
                self._connect()

    def reconnect(self) -> None:
        """Drop the current pool (best effort) and open a new one, e.g. after the host restarted."""
        with self._lock:
            self._discard_pool(graceful=True)
            self._pool = self._open()
        self._log.event(self.host, f"reconnected to {self.url}")

    def close(self) -> None:
        """Close the pool (idempotent); a ticket cache this transport made itself is destroyed."""
        with self._lock:
            self._discard_pool(graceful=True)
            if self._own_tickets and self._tickets is not None:
                self._tickets.destroy()

    def _invoke(
        self, command: PsCommand, display: str, timeout: float | None, progress: ProgressSink | None = None
    ) -> PowerShell:
        params = [(name, _checked_value(name, value)) for name, value in command.parameters]
        ps = PowerShell(self._pool or self._connect())
        ps.add_script(command.script)
        for name, value in params:
            ps.add_parameter(name, value)
        try:
            ps.begin_invoke()
            self._wait(ps, display, timeout, progress)
        except CommandTimeoutError:
            raise
        except Exception as exc:
            raise self._lost(exc) from None
        return ps

    def _wait(
        self, ps: PowerShell, display: str, timeout: float | None, progress: ProgressSink | None
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = 0
        while ps.state == _RUNNING:
            poll = self._poll_timeout(deadline)
            if poll == 0:
                ps.stop()  # ctrl_c Signal: the pipeline stops on the host, not just here
                raise CommandTimeoutError(self.host, display, timeout or 0.0)
            ps.poll_invoke(timeout=poll)
            seen = _report_progress(ps, seen, progress)

    def _poll_timeout(self, deadline: float | None) -> int | None:
        """OperationTimeout of the next Receive: the default unless the deadline is nearer; 0 = expired."""
        if deadline is None:
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return 0
        return None if remaining >= self._settings.operation_timeout else max(1, math.ceil(remaining))

    def _result(self, display: str, ps: PowerShell, duration: float) -> Result:
        errors = [_error_text(record) for record in ps.streams.error]
        failed = bool(ps.had_errors or errors)
        stdout = "\n".join(_output_text(value) for value in ps.output)
        return Result(display, 1 if failed else 0, stdout, self._masker.mask("\n".join(errors)), duration)

    def _connect(self) -> RunspacePool:
        self._pool = self._open()
        self._log.event(
            self.host, f"opened a PowerShell runspace pool at {self.url} (auth {self._settings.auth})"
        )
        return self._pool

    def _open(self) -> RunspacePool:
        self._kerberos_ticket()
        wsman = WSMan(**wsman_options(self.address, self._settings, self._connect_timeout))
        if self._settings.scheme == "https" and self._settings.hostname is not None:
            pin_server_name(wsman, self._settings.hostname)
        pool = RunspacePool(wsman)
        try:
            pool.open()
        except Exception as exc:
            wsman.close()
            raise self._mapped(exc, running=False) from None
        return pool

    def _kerberos_ticket(self) -> None:
        """With a password: the run's private ticket; without: check the user's ticket is still valid."""
        settings = self._settings
        if settings.auth != "kerberos" or settings.user is None:
            return
        if settings.password is None:
            check_user_ticket(self.host, settings.user)
        elif self._tickets is not None:
            self._tickets.obtain(self.host, settings.user, settings.password.get_secret_value())

    def _discard_pool(self, *, graceful: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if graceful:
            # The shell may be gone (restart) or unreachable; Windows reaps orphans after IdleTimeout.
            with contextlib.suppress(Exception):
                pool.close()
        pool.connection.close()

    def _lost(self, exc: Exception) -> TransportError:
        error = self._mapped(exc, running=True)
        if error.unreachable:
            self._discard_pool(graceful=False)  # the next command opens a fresh pool
        return error

    def _mapped(self, exc: Exception, *, running: bool) -> TransportError:
        error = map_error(self.host, self.url, self._settings, exc, running=running)
        error.message = self._masker.mask(error.message)
        error.args = (error.message,)
        return error

    def _put_chunk(self, temp: str, offset: int, chunk: bytes) -> None:
        params: dict[str, PsValue] = {
            "Path": temp,
            "Offset": str(offset),  # [long] in the script; an int would travel as Int32 (2 GiB limit)
            "Data": base64.b64encode(chunk).decode(),
        }
        command = powershell(_script("transport/put-chunk"), params)
        ps = self._invoke(command, f"transport/put-chunk({temp!r}, offset={offset})", None)
        result = self._result("transport/put-chunk", ps, 0.0)
        if not result.ok:
            raise UploadError(
                self.host, f"upload to {temp} failed at offset {offset}: {result.stderr_tail()}"
            )

    def _commit(self, temp: str, remote_path: str, sha256: str) -> None:
        params: dict[str, PsValue] = {"TempPath": temp, "Path": remote_path, "Sha256": sha256}
        result = self.run(powershell(_script("transport/put-commit"), params))
        if not result.ok:
            mismatch = "sha256 mismatch" in result.stderr
            raise UploadError(
                self.host, f"upload of {remote_path} failed: {result.stderr_tail()}", transient=mismatch
            )

    def _get_chunk(self, remote_path: str, offset: int) -> dict[str, Any]:
        params: dict[str, PsValue] = {"Path": remote_path, "Offset": str(offset), "Length": CHUNK_BYTES}
        command = powershell(_script("transport/get-chunk"), params, probe=True)
        ps = self._invoke(command, f"transport/get-chunk({remote_path!r}, offset={offset})", None)
        result = self._result("transport/get-chunk", ps, 0.0)
        if not result.ok:
            raise TransportError(self.host, f"reading {remote_path} failed: {result.stderr_tail()}")
        reply: dict[str, Any] = json.loads(result.stdout)
        if not reply.get("exists"):
            raise FileNotFoundError(remote_path)
        return reply


def _checked_value(name: str, value: PsValue) -> PsValue:
    """``value`` if PSRP can carry it; pypsrp sends every Python int as Int32, so larger ones must be text."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        _checked_value(name, item)
    if isinstance(value, int) and not isinstance(value, bool) and not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"parameter {name}: {value} does not fit Int32; pass it as a string")
    return value


def _require_ps(command: Command) -> PsCommand:
    if not isinstance(command, PsCommand):
        raise TypeError(f"the WinRM transport runs PsCommand only, not {type(command).__name__}")
    return command


def _chunks(source: bytes | Path) -> Iterator[bytes]:
    """The upload in CHUNK_BYTES pieces; always at least one, so an empty file is still created."""
    if isinstance(source, bytes):
        view = memoryview(source)
        yield from (bytes(view[i : i + CHUNK_BYTES]) for i in range(0, max(len(source), 1), CHUNK_BYTES))
        return
    with source.open("rb") as handle:
        chunk = handle.read(CHUNK_BYTES)
        yield chunk
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def _report_progress(ps: PowerShell, seen: int, progress: ProgressSink | None) -> int:
    """Hand the progress records that arrived since ``seen`` to ``progress``; the new count.

    pypsrp keeps PROGRESS_RECORD messages ([MS-PSRP] 2.2.2.25) in ``streams.progress``; ``description`` is
    the record's StatusDescription, what ``Write-Progress -Status`` wrote.
    """
    records = ps.streams.progress
    if progress is not None:
        for record in records[seen:]:
            progress(str(getattr(record, "description", "") or ""))
    return len(records)


def _output_text(value: object) -> str:
    return "" if value is None else str(value)


def _error_text(record: object) -> str:
    """PowerShell's own text for an error record (its ToString), else the category message."""
    text = str(record)
    if text and text != "None":
        return text
    for name in ("details_message", "message", "fq_error"):
        value = getattr(record, name, None)
        if value:
            return str(value)
    return "PowerShell reported an error without a message"
