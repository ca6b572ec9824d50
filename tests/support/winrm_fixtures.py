"""Pytest fixtures for the WinRM test endpoint, the simulated Windows host and WinRM transports.

Tier: winrm contract. Real: pypsrp, HTTP(S), TLS, NTLM. Simulated: the Windows host. Every endpoint and
transport a fixture starts is stopped in the fixture's finaliser, also when the test fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import SecretStr

from hybridctl.inventory.models import WinRMConnection
from hybridctl.masking import Masker
from hybridctl.transport.base import CommandLog, Result
from hybridctl.transport.winrm import WinRMTransport
from tests.contract.harness_winrm import WinRMHarness
from tests.support.winrm import (
    Accounts,
    CertificateAuthority,
    EndpointConfig,
    SimulatedWindowsHost,
    WinRMEndpoint,
    register_builtin,
    register_ntlm_user,
    register_test_scripts,
)

TEST_OPERATION_TIMEOUT = 5
TEST_READ_TIMEOUT = 10


@dataclass(frozen=True)
class WinRMPki:
    """Files of the test PKI: the endpoint's CA and certificate, an unrelated CA, a client certificate."""

    ca_file: Path
    wrong_ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_fingerprint: str
    ca: CertificateAuthority


@dataclass(frozen=True)
class WinRMAccount:
    """The Windows account the endpoint accepts (password random per test session)."""

    user: str
    password: str


class RecordingLog:
    """A CommandLog that keeps everything, for assertions."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, Result]] = []
        self.events: list[tuple[str, str]] = []

    def command(self, host: str, display: str, result: Result) -> None:
        """Keep a finished command."""
        self.commands.append((host, display, result))

    def event(self, host: str, message: str) -> None:
        """Keep an event."""
        self.events.append((host, message))

    def text(self) -> str:
        """Everything logged, as one string (to search for leaked secrets)."""
        lines = [f"{d} {r.stdout} {r.stderr}" for _, d, r in self.commands] + [m for _, m in self.events]
        return "\n".join(lines)


@pytest.fixture
def command_log() -> RecordingLog:
    """A fresh RecordingLog."""
    return RecordingLog()


def make_pki(directory: Path) -> WinRMPki:
    """A CA with a server certificate for 127.0.0.1 and a client certificate, plus a second, unrelated CA,
    written under ``directory``."""
    ca, wrong = CertificateAuthority("hybridctl test CA"), CertificateAuthority("unrelated CA")
    server_cert, server_key = ca.issue_server("127.0.0.1").write(directory, "server")
    client = ca.issue_client("vagrant")
    client_cert, client_key = client.write(directory, "client")
    return WinRMPki(
        ca.write(directory / "ca.pem"),
        wrong.write(directory / "wrong-ca.pem"),
        server_cert,
        server_key,
        client_cert,
        client_key,
        client.fingerprint,
        ca,
    )


@pytest.fixture(scope="session")
def winrm_pki(tmp_path_factory: pytest.TempPathFactory) -> WinRMPki:
    """The session's test PKI (``make_pki``)."""
    return make_pki(tmp_path_factory.mktemp("winrm-pki"))


@pytest.fixture(scope="session")
def winrm_account() -> WinRMAccount:
    """The test account; also registered with the NTLM acceptor (once per process)."""
    account = WinRMAccount("vagrant", "Hc-" + secrets.token_urlsafe(12))
    register_ntlm_user(account.user, account.password)
    return account


@pytest.fixture
def windows_host() -> SimulatedWindowsHost:
    """A fresh simulated Windows host that knows hybridctl's scripts and the test-only scripts."""
    host = SimulatedWindowsHost()
    register_builtin(host.scripts)
    register_test_scripts(host.scripts)
    return host


EndpointFactory = Callable[..., WinRMEndpoint]


@pytest.fixture
def winrm_endpoint_factory(
    windows_host: SimulatedWindowsHost, winrm_pki: WinRMPki, winrm_account: WinRMAccount
) -> Iterator[EndpointFactory]:
    """Start endpoints: ``factory(scheme="https"|"http", host=..., **EndpointConfig fields)``."""
    started: list[WinRMEndpoint] = []

    def start(
        scheme: Literal["https", "http"] = "https", host: SimulatedWindowsHost | None = None, **config: Any
    ) -> WinRMEndpoint:
        config.setdefault("methods", _default_methods(scheme))
        accounts = Accounts(
            {winrm_account.user: winrm_account.password}, {winrm_pki.client_fingerprint: "vagrant"}
        )
        if scheme == "https":
            config.setdefault("cert_file", winrm_pki.server_cert)
            config.setdefault("key_file", winrm_pki.server_key)
            config.setdefault("client_ca_file", winrm_pki.ca_file)
        endpoint = WinRMEndpoint(
            host or windows_host, EndpointConfig(scheme=scheme, accounts=accounts, **config)
        )
        started.append(endpoint)
        return endpoint.start()

    yield start
    for endpoint in started:
        endpoint.stop()


def _default_methods(scheme: str) -> frozenset[str]:
    if scheme == "https":
        return frozenset({"basic", "certificate", "ntlm", "negotiate"})
    return frozenset({"ntlm", "negotiate"})


@pytest.fixture
def https_endpoint(winrm_endpoint_factory: EndpointFactory) -> WinRMEndpoint:
    """An HTTPS endpoint (Basic, client certificate, NTLM) in front of ``windows_host``."""
    return winrm_endpoint_factory("https")


@pytest.fixture
def http_endpoint(winrm_endpoint_factory: EndpointFactory) -> WinRMEndpoint:
    """An HTTP endpoint (NTLM/Negotiate with message encryption) in front of ``windows_host``."""
    return winrm_endpoint_factory("http")


ConnectionFactory = Callable[..., WinRMConnection]


@pytest.fixture
def winrm_connection(winrm_pki: WinRMPki, winrm_account: WinRMAccount) -> ConnectionFactory:
    """Inventory settings for an endpoint: ``winrm_connection(endpoint, auth=..., **overrides)``."""

    def build(endpoint: WinRMEndpoint, **overrides: Any) -> WinRMConnection:
        https = endpoint.config.scheme == "https"
        values: dict[str, Any] = {
            "user": winrm_account.user,
            "password": SecretStr(winrm_account.password),
            "scheme": endpoint.config.scheme,
            "port": endpoint.port,
            "auth": "basic" if https else "ntlm",
            "ca_bundle": str(winrm_pki.ca_file) if https else None,
            "operation_timeout": TEST_OPERATION_TIMEOUT,
            "read_timeout": TEST_READ_TIMEOUT,
        }
        values.update(overrides)
        return WinRMConnection(**values)

    return build


TransportFactory = Callable[..., WinRMTransport]


@pytest.fixture
def winrm_transport_factory(winrm_connection: ConnectionFactory) -> Iterator[TransportFactory]:
    """Transports to an endpoint, closed at teardown: ``factory(endpoint, log=, masker=, **settings)``."""
    opened: list[WinRMTransport] = []

    def make(
        endpoint: WinRMEndpoint,
        *,
        log: CommandLog | None = None,
        masker: Masker | None = None,
        **settings: Any,
    ) -> WinRMTransport:
        connection = winrm_connection(endpoint, **settings)
        transport = WinRMTransport(
            endpoint.host.machine.hostname.lower(), "127.0.0.1", connection, log=log, masker=masker
        )
        opened.append(transport)
        return transport

    yield make
    for transport in opened:
        transport.close()


@pytest.fixture
def winrm_harness(https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory) -> WinRMHarness:
    """The shared transport contract suite's adapter for WinRM (HTTPS + Basic endpoint)."""
    return WinRMHarness(https_endpoint, lambda: winrm_transport_factory(https_endpoint))


def _credssp_harness(
    scheme: Literal["https", "http"], factory: EndpointFactory, transports: TransportFactory
) -> WinRMHarness:
    endpoint = factory(scheme, methods=frozenset({"credssp"}))
    return WinRMHarness(endpoint, lambda: transports(endpoint, auth="credssp"))


@pytest.fixture
def winrm_credssp_http_harness(
    winrm_endpoint_factory: EndpointFactory, winrm_transport_factory: TransportFactory
) -> WinRMHarness:
    """The contract suite over HTTP with CredSSP (pyspnego acceptor) and CredSSP message encryption."""
    return _credssp_harness("http", winrm_endpoint_factory, winrm_transport_factory)


@pytest.fixture
def winrm_credssp_https_harness(
    winrm_endpoint_factory: EndpointFactory, winrm_transport_factory: TransportFactory
) -> WinRMHarness:
    """The contract suite over HTTPS (CA-validated) with CredSSP."""
    return _credssp_harness("https", winrm_endpoint_factory, winrm_transport_factory)


def winrm_settings(pki: WinRMPki, account: WinRMAccount) -> dict[str, Any]:
    """The inventory's ``winrm`` block for the simulated hosts (without the port)."""
    return {
        "user": account.user,
        "password": account.password,
        "auth": "basic",
        "caBundle": str(pki.ca_file),
        "operationTimeout": TEST_OPERATION_TIMEOUT,
        "readTimeout": TEST_READ_TIMEOUT,
    }
