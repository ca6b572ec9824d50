"""Pytest fixtures for WinRM over Kerberos: a real MIT KDC on loopback and endpoints that accept its tickets.

Tier: winrm contract. Real: MIT krb5kdc (Debian krb5-kdc), kadmin.local, keytabs, the unmodified pypsrp
client with pyspnego/gssapi, pyspnego's Kerberos acceptor, TLS with a certificate for the host name, message
encryption. Simulated: the Windows host behind the endpoint. ``KRB5_CONFIG`` and ``KRB5_KTNAME`` are
process-wide (client and acceptor run in this process); the session fixture sets them and restores them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import SecretStr

from hybridctl.inventory.models import WinRMConnection
from hybridctl.transport.winrm import WinRMTransport
from tests.contract.harness_winrm import WinRMHarness
from tests.support.ci import missing, require_tool
from tests.support.kdc import DOMAIN, Kdc, client_config
from tests.support.winrm import WinRMEndpoint
from tests.support.winrm_fixtures import (
    TEST_OPERATION_TIMEOUT,
    TEST_READ_TIMEOUT,
    EndpointFactory,
    WinRMPki,
)

HOSTNAME = f"win1.{DOMAIN}"
CLOSED_PORT = 1  # tcpmux: nothing listens on loopback, so a stray KDC request fails at once
UNREGISTERED_HOSTNAME = f"win9.{DOMAIN}"
INSTALL_HINT = "apt-get install krb5-kdc krb5-admin-server krb5-user (see .ci/run)"


@dataclass(frozen=True)
class Realm:
    """The running test realm: its KDC, a user with a password, and the host's certificate for its name."""

    kdc: Kdc
    principal: str
    password: str
    server_cert: Path
    server_key: Path
    wrong_name_cert: Path
    wrong_name_key: Path


@pytest.fixture(scope="session", autouse=True)
def isolated_kerberos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test may ask a real KDC: with gssapi installed, pyspnego's Negotiate tries Kerberos first (kinit
    of the NTLM test user in the machine's default realm: DNS and KDC traffic off the machine). The whole
    test process gets a krb5.conf whose realm's only KDC is a closed port on loopback, and an empty cache."""
    directory = tmp_path_factory.mktemp("krb5-isolated")
    names = ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME")
    previous = {name: os.environ.get(name) for name in names}
    conf = directory / "krb5.conf"
    conf.write_text(client_config(CLOSED_PORT))
    os.environ.update(
        {
            "KRB5_CONFIG": str(conf),
            "KRB5CCNAME": f"FILE:{directory / 'no-cache'}",
            "KRB5_KTNAME": f"FILE:{directory / 'no-keytab'}",
        }
    )
    try:
        yield
    finally:
        _restore(previous)


def _restore(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def kerberos_realm(
    tmp_path_factory: pytest.TempPathFactory, winrm_pki: WinRMPki, isolated_kerberos: None
) -> Iterator[Realm]:
    """A realm HYBRIDCTL.TEST on 127.0.0.1 with HTTP/ and WSMAN/win1.hybridctl.test in the endpoint keytab."""
    for tool in ("krb5kdc", "kdb5_util", "kadmin.local", "kinit"):
        require_tool(tool, INSTALL_HINT)
    _require_gssapi()
    directory = tmp_path_factory.mktemp("krb5")
    kdc = Kdc(directory / "kdc").create()
    password = "Kp-" + secrets.token_urlsafe(12)
    principal = kdc.add_user("alice", password)
    for service in ("HTTP", "WSMAN"):
        kdc.add_service(f"{service}/{HOSTNAME}")
    previous = {name: os.environ.get(name) for name in ("KRB5_CONFIG", "KRB5_KTNAME", "KRB5CCNAME")}
    os.environ.update(
        {
            "KRB5_CONFIG": str(kdc.krb5_conf),
            "KRB5_KTNAME": f"FILE:{kdc.keytab}",
            "KRB5CCNAME": f"FILE:{directory / 'no-user-cache'}",  # never the machine user's cache
        }
    )
    kdc.start()
    cert, key = winrm_pki.ca.issue_server(HOSTNAME).write(directory, "win1")
    wrong_cert, wrong_key = winrm_pki.ca.issue_server(f"other.{DOMAIN}").write(directory, "other")
    try:
        yield Realm(kdc, principal, password, cert, key, wrong_cert, wrong_key)
    finally:
        kdc.stop()
        _restore(previous)


def _require_gssapi() -> None:
    try:
        import gssapi  # noqa: F401
    except ImportError:
        missing("the gssapi package is missing: pip install -e '.[test]' (needs libkrb5-dev)")


@pytest.fixture
def kerberos_endpoint_factory(
    kerberos_realm: Realm, winrm_endpoint_factory: EndpointFactory
) -> Callable[..., WinRMEndpoint]:
    """Endpoints that accept Kerberos only (NTLM off, like a hardened domain); https: the name's cert."""

    def start(scheme: Literal["https", "http"] = "http", **config: Any) -> WinRMEndpoint:
        config.setdefault("methods", frozenset({"kerberos"}))
        if scheme == "https":
            config.setdefault("cert_file", kerberos_realm.server_cert)
            config.setdefault("key_file", kerberos_realm.server_key)
        return winrm_endpoint_factory(scheme, **config)

    return start


KerberosConnectionFactory = Callable[..., WinRMConnection]


@pytest.fixture
def kerberos_connection(kerberos_realm: Realm, winrm_pki: WinRMPki) -> KerberosConnectionFactory:
    """Inventory settings for Kerberos to an endpoint: ``kerberos_connection(endpoint, **overrides)``."""

    def build(endpoint: WinRMEndpoint, **overrides: Any) -> WinRMConnection:
        https = endpoint.config.scheme == "https"
        values: dict[str, Any] = {
            "user": kerberos_realm.principal,
            "password": SecretStr(kerberos_realm.password),
            "auth": "kerberos",
            "hostname": HOSTNAME,
            "scheme": endpoint.config.scheme,
            "port": endpoint.port,
            "ca_bundle": str(winrm_pki.ca_file) if https else None,
            "operation_timeout": TEST_OPERATION_TIMEOUT,
            "read_timeout": TEST_READ_TIMEOUT,
        }
        values.update(overrides)
        return WinRMConnection(**values)

    return build


def _kerberos_harness(
    scheme: Literal["https", "http"],
    factory: Callable[..., WinRMEndpoint],
    connection: KerberosConnectionFactory,
    opened: list[WinRMTransport],
) -> WinRMHarness:
    endpoint = factory(scheme)

    def make() -> WinRMTransport:
        transport = WinRMTransport("win1", "127.0.0.1", connection(endpoint))
        opened.append(transport)
        return transport

    return WinRMHarness(endpoint, make)


@pytest.fixture
def kerberos_transports() -> Iterator[list[WinRMTransport]]:
    """Transports a test opened, closed (and their ticket caches destroyed) at teardown."""
    opened: list[WinRMTransport] = []
    yield opened
    for transport in opened:
        transport.close()


@pytest.fixture
def winrm_kerberos_http_harness(
    kerberos_endpoint_factory: Callable[..., WinRMEndpoint],
    kerberos_connection: KerberosConnectionFactory,
    kerberos_transports: list[WinRMTransport],
) -> WinRMHarness:
    """The contract suite over HTTP with Kerberos authentication and Kerberos message encryption."""
    return _kerberos_harness("http", kerberos_endpoint_factory, kerberos_connection, kerberos_transports)


@pytest.fixture
def winrm_kerberos_https_harness(
    kerberos_endpoint_factory: Callable[..., WinRMEndpoint],
    kerberos_connection: KerberosConnectionFactory,
    kerberos_transports: list[WinRMTransport],
) -> WinRMHarness:
    """The contract suite over HTTPS (certificate for the host name, checked against it) with Kerberos."""
    return _kerberos_harness("https", kerberos_endpoint_factory, kerberos_connection, kerberos_transports)
