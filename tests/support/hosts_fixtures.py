"""Pytest fixtures for Linux test hosts (real sshd in network namespaces; see ``linux_hosts.py``).

``linux_lab`` (session): one lab (bridge, client keys, users) for the whole session.
``linux_hosts`` (function): a factory, ``linux_hosts(n) -> list[TestHost]``; the hosts are removed when the
test ends, whether it passed or not. ``linux_host``: one fresh host. ``ssh_harness``: the SSH adapter of the
transport contract suite (``tests/contract/harness_ssh.py``). ``ssh_connect``: a factory of SSHTransports to
test hosts that records into ``ssh_log`` and closes them after the test.

Outside CI these fixtures skip (with what to install) when root or a tool is missing; in CI they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

import pytest

from hybridctl.masking import Masker
from hybridctl.transport.base import Result
from hybridctl.transport.hostkeys import KnownHosts
from hybridctl.transport.ssh import SSHTransport
from tests.support.ci import require_root, require_tool
from tests.support.linux_hosts import REQUIRED_TOOLS, LinuxTestHosts, TestHost

if TYPE_CHECKING:
    from tests.contract.harness_ssh import SSHHarness

HostFactory = Callable[..., list[TestHost]]


def require_linux_hosts() -> None:
    """Skip locally, fail in CI, unless this machine can run Linux test hosts."""
    require_root("Linux test hosts use network, mount and PID namespaces")
    for tool, hint in REQUIRED_TOOLS.items():
        require_tool(tool, hint)


@pytest.fixture(scope="session")
def linux_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinuxTestHosts]:
    """The session's lab: a bridge in a free slot of 10.231.0.0/16, client keys, test users."""
    require_linux_hosts()
    with LinuxTestHosts(0, tmp_path_factory.mktemp("linux-hosts")) as lab:
        yield lab


@pytest.fixture
def linux_hosts(linux_lab: LinuxTestHosts) -> Iterator[HostFactory]:
    """A factory of fresh test hosts, ``linux_hosts(n=1)``; all of them are removed after the test."""
    created: list[TestHost] = []

    def make(count: int = 1) -> list[TestHost]:
        hosts = linux_lab.add(count)
        created.extend(hosts)
        return hosts

    yield make
    linux_lab.remove(created)


@pytest.fixture
def linux_host(linux_hosts: HostFactory) -> TestHost:
    """One fresh test host."""
    return linux_hosts(1)[0]


@pytest.fixture
def ssh_harness(linux_hosts: HostFactory) -> Iterator[SSHHarness]:
    """The SSH side of the transport contract suite; closes its transports after the test."""
    from tests.contract.harness_ssh import make_ssh_harness

    harness = make_ssh_harness(linux_hosts)
    yield harness
    harness.close()


class RecordingLog:
    """A CommandLog that keeps every line it is given, for assertions on what reaches the logs."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def command(self, host: str, display: str, result: Result) -> None:
        """Keep the command, its exit code and its output."""
        self.lines.append(f"{host} $ {display} -> {result.exit_code}\n{result.stdout}\n{result.stderr}")

    def event(self, host: str, message: str) -> None:
        """Keep the event."""
        self.lines.append(f"{host}: {message}")

    @property
    def text(self) -> str:
        """Everything logged so far."""
        return "\n".join(self.lines)


class Connect(Protocol):
    """The ``ssh_connect`` fixture's signature."""

    def __call__(
        self,
        host: TestHost,
        user: str = "root",
        *,
        known_hosts: KnownHosts | None = None,
        connect_timeout: float = 5.0,
        **ssh: object,
    ) -> SSHTransport: ...


@pytest.fixture
def ssh_log() -> RecordingLog:
    """Where ``ssh_connect`` transports log."""
    return RecordingLog()


@pytest.fixture
def ssh_connect(ssh_log: RecordingLog) -> Iterator[Connect]:
    """Connect to a test host as ``user`` (key login unless ``ssh`` says otherwise); strict host keys."""
    opened: list[SSHTransport] = []

    def connect(
        host: TestHost,
        user: str = "root",
        *,
        known_hosts: KnownHosts | None = None,
        connect_timeout: float = 5.0,
        **ssh: object,
    ) -> SSHTransport:
        known = known_hosts or KnownHosts(host.known_hosts, user_file=None)
        inventory = host.inventory_host(user, **ssh)
        transport = SSHTransport(
            inventory, known_hosts=known, log=ssh_log, masker=Masker(), connect_timeout=connect_timeout
        )
        opened.append(transport)
        transport.open()
        return transport

    yield connect
    for transport in opened:
        transport.close()
