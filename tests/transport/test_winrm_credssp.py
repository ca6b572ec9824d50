"""WinRM over CredSSP: the unmodified pypsrp client (requests-credssp) against pyspnego's CredSSP acceptor.

Tier: winrm contract. Real: pypsrp + requests-credssp, pyspnego's CredSSP acceptor (TLS inside HTTP, NTLM
inside that via ``NTLM_USER_FILE``, then the client's delegated password, which the endpoint checks), CredSSP
message encryption over HTTP (also the >16 KiB multi-part framing), HTTPS with CA validation. Simulated: the
Windows host behind the endpoint. Not covered: what Windows does with the delegated credential (second hop).
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from hybridctl.errors import ExitCode
from hybridctl.transport.base import AuthenticationError
from hybridctl.transport.winrm_settings import wsman_options
from tests.support.winrm import WinRMEndpoint, harness_command
from tests.support.winrm_fixtures import EndpointFactory, RecordingLog, TransportFactory, WinRMAccount

SOAP_NS = b"http://www.w3.org/2003/05/soap-envelope"
CREDSSP_ONLY = frozenset({"credssp"})


def test_credssp_over_http_encrypts_every_message_also_above_16_kib(
    winrm_endpoint_factory: EndpointFactory, winrm_transport_factory: TransportFactory
) -> None:
    endpoint: WinRMEndpoint = winrm_endpoint_factory("http", methods=CREDSSP_ONLY)
    transport = winrm_transport_factory(endpoint, auth="credssp")
    assert wsman_options("127.0.0.1", transport._settings)["encryption"] == "always"
    text = "geheim ✓ " * 4000  # > 16 KiB: pypsrp sends multipart/x-multi-encrypted
    result = transport.run(harness_command("test/echo", Text=text))
    assert result.ok, result.stderr
    assert result.stdout.rstrip("\r\n") == text
    bodies = [record for record in endpoint.wire if record.head]
    assert any(r.content_type.startswith("multipart/x-multi-encrypted") for r in bodies)
    for record in bodies:
        assert "HTTP-CredSSP-session-encrypted" in record.content_type, record.content_type
        assert SOAP_NS not in record.head and b"geheim" not in record.head


def test_credssp_wrong_password_is_refused_without_leaking_it(
    winrm_endpoint_factory: EndpointFactory, winrm_transport_factory: TransportFactory
) -> None:
    endpoint: WinRMEndpoint = winrm_endpoint_factory("http", methods=CREDSSP_ONLY)
    log = RecordingLog()
    transport = winrm_transport_factory(
        endpoint, auth="credssp", password=SecretStr("Wr0ng-credssp"), log=log
    )
    with pytest.raises(AuthenticationError) as caught:
        transport.open()
    assert caught.value.exit_code == ExitCode.UNREACHABLE and not caught.value.transient
    assert "Wr0ng-credssp" not in str(caught.value) + log.text()
    assert not endpoint.action_counts


def test_credssp_delegated_password_must_match_the_account(
    winrm_endpoint_factory: EndpointFactory,
    winrm_account: WinRMAccount,
    winrm_transport_factory: TransportFactory,
) -> None:
    # The NTLM step inside CredSSP passes, but the delegated credential is what Windows logs on with: the
    # endpoint checks it against the account (here the account's Basic password differs from NTLM's).
    endpoint: WinRMEndpoint = winrm_endpoint_factory("http", methods=CREDSSP_ONLY)
    endpoint.config.accounts.passwords[winrm_account.user] = "another password"
    transport = winrm_transport_factory(endpoint, auth="credssp")
    with pytest.raises(AuthenticationError):
        transport.open()
