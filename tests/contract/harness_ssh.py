"""SSH adapter of the shared transport contract suite (tier: ssh contract).

Real: OpenSSH sshd on a fresh Linux test host per transport (network namespaces), paramiko, SFTP, the
kernel's TCP. Simulated: nothing; a dropped connection is the host's sshd session processes being killed.
Use it through the ``ssh_harness`` fixture (tests/support/hosts_fixtures.py) or ``make_ssh_harness``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from hybridctl.commands import Command, posix, shell
from hybridctl.masking import Masker
from hybridctl.transport.base import NullLog, Transport
from hybridctl.transport.hostkeys import KnownHosts
from hybridctl.transport.ssh import SSHTransport
from tests.support.linux_hosts import TestHost

SCRATCH_DIR = "/tmp"  # a fresh tmpfs on every test host


class SSHHarness:
    """Commands and host-side checks for the contract suite, backed by Linux test hosts."""

    name = "ssh"
    exact_exit_codes = True

    def __init__(self, make_hosts: Callable[..., list[TestHost]]) -> None:
        self._make_hosts = make_hosts
        self._hosts: list[TestHost] = []
        self._transports: dict[int, tuple[SSHTransport, TestHost]] = {}

    def transport(self) -> Transport:
        """A connected root transport to a fresh test host."""
        host = self._make_hosts(1)[0]
        self._hosts.append(host)
        known = KnownHosts(host.known_hosts, user_file=None)
        transport = SSHTransport.connect(
            host.inventory_host(), known_hosts=known, log=NullLog(), masker=Masker()
        )
        self._transports[id(transport)] = (transport, host)
        return transport

    def echo(self, text: str) -> Command:
        """Writes ``text`` to stdout exactly."""
        return posix("printf", "%s", text)

    def echo_stderr(self, text: str) -> Command:
        """Writes ``text`` to stderr exactly."""
        return shell('printf %s "$1" >&2', text)

    def exit_with(self, code: int) -> Command:
        """Exits with ``code``."""
        return shell('exit "$1"', str(code))

    def sleep(self, seconds: float, marker: str) -> Command:
        """Sleeps ``seconds`` as a single process whose argv[0] is ``marker``."""
        return posix("bash", "-c", 'exec -a "$0" sleep "$1"', marker, f"{seconds:g}")

    def is_running(self, marker: str) -> bool:
        """Whether a process started by ``sleep(..., marker)`` still runs on any host of this harness."""
        return any(host.init_pid and host.is_running(marker) for host in self._hosts)

    def scratch_path(self, name: str) -> str:
        """A path in a directory the test may write to."""
        return posixpath.join(SCRATCH_DIR, name)

    def drop_connection(self, transport: Transport) -> None:
        """Kill the transport's SSH session on its host (safe to call from another thread)."""
        _, host = self._transports[id(transport)]
        host.drop_connections()

    def close(self) -> None:
        """Close every transport this harness opened."""
        for transport, _ in self._transports.values():
            transport.close()
        self._transports.clear()


def make_ssh_harness(linux_hosts_factory: Callable[..., list[TestHost]]) -> SSHHarness:
    """The SSH harness over a ``linux_hosts`` fixture factory."""
    return SSHHarness(linux_hosts_factory)
