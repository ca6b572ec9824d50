"""The WinRM adapter for the shared transport contract suite.

Tier: winrm contract. Real: the unmodified pypsrp client, HTTPS, TLS validation, PSRP. Simulated: the
Windows host; the harness's commands are the test-only ``test/...`` scripts in
``tests/support/winrm/scripts/test/`` and the simulator's handlers for them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from hybridctl.commands import Command
from hybridctl.transport.base import Transport
from hybridctl.transport.winrm import WinRMTransport
from tests.support.winrm import WinRMEndpoint, harness_command

# Windows refuses these in file names (the simulated host does too).
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


class WinRMHarness:
    """Contract-suite adapter: WinRM transports to one test endpoint and its simulated Windows host."""

    name = "winrm"
    exact_exit_codes = False  # PowerShell has success or failure; the transport reports failure as 1

    def __init__(self, endpoint: WinRMEndpoint, make_transport: Callable[[], WinRMTransport]) -> None:
        self.endpoint = endpoint
        self._make_transport = make_transport
        self._scratch = f"C:\\hybridctl-tests\\{uuid.uuid4().hex[:8]}"

    def transport(self) -> Transport:
        """A new transport with its pool open (the fixture closes it at teardown too)."""
        transport = self._make_transport()
        transport.open()
        return transport

    def echo(self, text: str) -> Command:
        """Writes ``text`` to the output stream exactly."""
        return harness_command("test/echo", Text=text)

    def echo_stderr(self, text: str) -> Command:
        """Writes ``text`` to the error stream (a non-terminating error)."""
        return harness_command("test/echo-stderr", Text=text)

    def exit_with(self, code: int) -> Command:
        """Succeeds for 0, otherwise fails (terminating error)."""
        return harness_command("test/exit", Code=code)

    def sleep(self, seconds: float, marker: str) -> Command:
        """Sleeps on the host while ``marker`` is visible to ``is_running``."""
        return harness_command("test/sleep", Seconds=seconds, Marker=marker)

    def is_running(self, marker: str) -> bool:
        """True while a ``sleep`` command with ``marker`` runs on the simulated host."""
        machine = self.endpoint.host.machine
        with machine.lock:
            return marker in machine.running

    def scratch_path(self, name: str) -> str:
        """A Windows path private to this harness; characters Windows forbids in names become ``_``."""
        return f"{self._scratch}\\{_WINDOWS_FORBIDDEN.sub('_', name)}"

    def drop_connection(self, transport: Transport) -> None:
        """Close every TCP connection to the endpoint now (from another thread, mid-command)."""
        self.endpoint.drop_connections()
