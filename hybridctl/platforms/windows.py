"""Windows primitives: how to do X on a Windows node, as constant PowerShell scripts run through a transport.

Scripts live in ``templates/windows/scripts/{node,win}/``; every value reaches them as a parameter.
``WindowsPlatform`` implements the ``Platform`` protocol the OS-agnostic step helpers use.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hybridctl.commands import PsCommand, PsValue, powershell
from hybridctl.errors import ExitCode
from hybridctl.platforms.base import byte_reports
from hybridctl.resources import powershell_script
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.transport.base import (
    ByteProgress,
    CommandFailedError,
    CommandTimeoutError,
    Result,
    Transport,
    TransportError,
    UnreachableError,
)

EventSink = Callable[[str], None]
PhaseSink = Callable[[str], None]


class ReconnectableTransport(Transport, Protocol):
    """A transport that can drop its session and open a new one (WinRM after a restart)."""

    def reconnect(self) -> None:
        """Open a fresh session; raises UnreachableError while the host is down."""
        ...


class RebootError(TransportError):
    """The host did not restart the way hybridctl asked it to."""


class RebootNotObservedError(RebootError):
    """The restart was scheduled but the host never went down."""


class HostDidNotReturnError(RebootError):
    """The host went down for a restart and did not come back in time."""

    unreachable = True
    exit_code = ExitCode.UNREACHABLE


def node_command(name: str, params: dict[str, PsValue] | None = None, *, probe: bool = False) -> PsCommand:
    """The PsCommand for ``templates/windows/scripts/node/<name>.ps1``."""
    return powershell(powershell_script(f"node/{name}"), params, probe=probe)


def win_command(
    name: str, params: dict[str, PsValue] | None = None, *, probe: bool = False, secrets: Iterable[str] = ()
) -> PsCommand:
    """The PsCommand for ``templates/windows/scripts/win/<name>.ps1``."""
    return powershell(powershell_script(f"win/{name}"), params, probe=probe, secrets=secrets)


def strings(items: Iterable[str]) -> list[PsValue]:
    """A list of strings as a PowerShell ``[string[]]`` parameter value."""
    return [str(item) for item in items]


def probe_json(host: HostView, name: str, params: dict[str, PsValue] | None = None) -> dict[str, Any]:
    """Run the read-only script ``win/<name>`` and return its JSON object."""
    result = host.run(win_command(name, params, probe=True), check=False)
    return json_reply(host.name, result, f"win/{name}")


def apply_json(
    host: HostHandle, name: str, params: dict[str, PsValue] | None = None, *, secrets: Iterable[str] = ()
) -> dict[str, Any]:
    """Run the script ``win/<name>`` that changes the host and return its JSON object."""
    result = host.run(win_command(name, params, secrets=secrets), check=False)
    return json_reply(host.name, result, f"win/{name}")


class WindowsPlatform:
    """How to do the common things on a Windows node (the ``Platform`` protocol)."""

    name: str = "windows"

    def state(self, host: HostView, **query: PsValue) -> dict[str, Any]:
        """``win/state``: the live state asked for by ``query`` (see the script), in one round trip."""
        return probe_json(host, "state", dict(query))

    def file_hashes(self, host: HostView, paths: Sequence[str]) -> dict[str, str | None]:
        """sha256 of each path (None when missing), read in one round trip."""
        if not paths:
            return {}
        files: dict[str, str | None] = self.state(host, Paths=strings(paths))["files"]
        return {path: files.get(path) for path in paths}

    def install_file(
        self, host: HostHandle, path: str, data: bytes | Path, mode: int, progress: ByteProgress | None = None
    ) -> None:
        """Upload ``data`` to ``path`` (chunks, sha256 check, atomic move; parents created)."""
        host.put(data, path, mode, progress=progress)

    def remove_paths(self, host: HostHandle, paths: Sequence[str]) -> list[str]:
        """Delete files or directory trees; returns those that existed."""
        if not paths:
            return []
        return [str(p) for p in apply_json(host, "remove-paths", {"Paths": strings(paths)})["removed"]]

    def fetch_text(self, host: HostView, url: str) -> str:
        """Read a small text (a checksum file) from ``url`` on the node itself (a probe)."""
        return str(probe_json(host, "fetch-text", {"Url": url})["text"])

    def download(
        self, host: HostHandle, url: str, sha256: str, path: str, progress: ByteProgress | None = None
    ) -> bool:
        """The node downloads ``url`` to ``path`` and verifies it; False when ``path`` already matched.

        ``progress`` hears the script's Write-Progress reports (``<done> of <total> bytes``).
        """
        params: dict[str, PsValue] = {"Url": url, "Sha256": sha256.lower(), "Path": path}
        heard = byte_reports(progress) if progress is not None else None
        result = host.run(node_command("download", params), check=False, progress=heard)
        return bool(json_reply(host.name, result, f"download of {url}")["changed"])


def download(transport: Transport, url: str, sha256: str, path: str, *, timeout: float | None = None) -> bool:
    """Have the node download ``url`` to ``path`` and check its sha256; False when it was already there."""
    params: dict[str, PsValue] = {"Url": url, "Sha256": sha256.lower(), "Path": path}
    result = transport.run(node_command("download", params), timeout)
    return bool(json_reply(transport.host, result, f"download of {url}")["changed"])


def boot_time(transport: Transport, *, timeout: float | None = None) -> datetime.datetime:
    """When Windows last booted (UTC)."""
    result = transport.run(node_command("boot-time", probe=True), timeout)
    if not result.ok:
        raise CommandFailedError(transport.host, result, "reading the boot time")
    return parse_boot_time(result.stdout.strip())


def parse_boot_time(text: str) -> datetime.datetime:
    """Parse ``node/boot-time``'s ``yyyy-MM-ddTHH:mm:ss.fffZ``."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def reboot_and_wait(
    transport: ReconnectableTransport,
    *,
    down_timeout: float = 300.0,
    up_timeout: float = 900.0,
    poll_interval: float = 5.0,
    probe_timeout: float = 30.0,
    delay: int = 5,
    on_event: EventSink | None = None,
    on_phase: PhaseSink | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> datetime.datetime:
    """Restart the host as SYSTEM, wait until it is down, then until it answers with a new boot time.

    Returns the new boot time; the transport is reconnected, so the same run carries on. ``on_phase``
    hears ``scheduled``, ``down`` and ``up`` (the UI's reboot events).
    """
    emit = on_event or (lambda _message: None)
    phase = on_phase or (lambda _phase: None)
    waiter = _RebootWaiter(transport, boot_time(transport), poll_interval, probe_timeout, clock, sleep)
    schedule_reboot(transport, delay)
    phase("scheduled")
    emit(f"restart scheduled in {delay}s (as SYSTEM); waiting for the host to go down")
    return _through_restart(waiter, down_timeout, up_timeout, emit, phase)


RESTART_WINDOW = 300.0
"""How long after node/reboot's task ran its restart may still come: the task's delay, then a shutdown that
finishes configuring features (Windows stops WinRM early in it)."""


def wait_for_scheduled_restart(
    transport: ReconnectableTransport,
    scheduled_ago: float,
    *,
    up_timeout: float = 900.0,
    poll_interval: float = 5.0,
    probe_timeout: float = 30.0,
    on_phase: PhaseSink | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> datetime.datetime | None:
    """Wait for a restart node/reboot scheduled ``scheduled_ago`` seconds ago that has not happened yet (a run
    stopped while it waited for it): until the host goes down, then until it is back with a new boot time.

    Returns the new boot time, or None when the host still answers with its old boot time at the end of
    ``RESTART_WINDOW`` (the restart was cancelled, e.g. ``shutdown /a``): nothing restarts then.
    """
    phase = on_phase or (lambda _phase: None)
    waiter = _RebootWaiter(transport, boot_time(transport), poll_interval, probe_timeout, clock, sleep)
    try:
        return _through_restart(
            waiter, max(RESTART_WINDOW - scheduled_ago, poll_interval), up_timeout, lambda _m: None, phase
        )
    except RebootNotObservedError:
        return None


def _through_restart(
    waiter: _RebootWaiter, down_timeout: float, up_timeout: float, emit: EventSink, phase: PhaseSink
) -> datetime.datetime:
    """Wait until the host is down, then back with a new boot time; report both phases."""
    booted = waiter.wait_down(down_timeout)
    phase("down")
    if booted is None:
        emit("host is down; waiting for it to come back")
        booted = waiter.wait_up(up_timeout)
    phase("up")
    emit(f"host is back (booted at {booted.isoformat()})")
    return booted


def schedule_reboot(transport: Transport, delay: int = 5) -> None:
    """Register and start the SYSTEM task that runs ``shutdown.exe /r /t <delay>``."""
    result = transport.run(node_command("reboot", {"DelaySeconds": delay}))
    if not result.ok:
        raise CommandFailedError(transport.host, result, "scheduling the restart")


@dataclass
class _RebootWaiter:
    """Polls the boot time through the transport: failures mean down, a new boot time means done."""

    transport: ReconnectableTransport
    before: datetime.datetime
    poll_interval: float
    probe_timeout: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]

    def wait_down(self, timeout: float) -> datetime.datetime | None:
        """None once the host stops answering; a boot time if it already restarted between two polls."""
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            current = self._probe(reconnect=False)
            if current is None:
                return None
            if current != self.before:
                return current
            self.sleep(self.poll_interval)
        raise RebootNotObservedError(
            self.transport.host,
            f"the host still answered {timeout:g}s after the restart was scheduled (boot time unchanged)",
            hint="check the hybridctl-reboot scheduled task and the System event log on the host",
        )

    def wait_up(self, timeout: float) -> datetime.datetime:
        """The new boot time, once the host answers again after being down."""
        deadline = self.clock() + timeout
        seen_unchanged = False
        while self.clock() < deadline:
            self.sleep(self.poll_interval)
            current = self._probe(reconnect=True)
            if current is not None and current != self.before:
                return current
            seen_unchanged = seen_unchanged or current is not None
        state = "answers but its boot time did not change" if seen_unchanged else "did not answer"
        message = f"the host {state} within {timeout:g}s of going down"
        raise HostDidNotReturnError(self.transport.host, message)

    def _probe(self, *, reconnect: bool) -> datetime.datetime | None:
        try:
            if reconnect:
                self.transport.reconnect()
            return boot_time(self.transport, timeout=self.probe_timeout)
        except (UnreachableError, CommandTimeoutError):
            # Refused, dropped or hung: down. Credential and TLS errors are not, and waiting cannot fix them.
            return None


def json_reply(host: str, result: Result, what: str) -> dict[str, Any]:
    """The JSON object a script printed last; CommandFailedError when it failed or printed none."""
    if not result.ok:
        raise CommandFailedError(host, result, what)
    lines = result.stdout.strip().splitlines()
    reply = json.loads(lines[-1]) if lines else None
    if not isinstance(reply, dict):
        raise CommandFailedError(host, result, f"{what}: expected one JSON object on stdout")
    return reply
