"""WinRM transport: TLS validation, authentication, message encryption and refusals.

Tier: winrm contract. Real: the unmodified pypsrp client, HTTP(S), TLS with a generated CA, Basic, client
certificate and NTLM/Negotiate authentication (pyspnego acceptor), NTLM message encryption. Simulated: the
Windows host behind the WinRM test endpoint. Kerberos and CredSSP are in test_winrm_kerberos.py and
test_winrm_credssp.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pypsrp.exceptions import AuthenticationError as PsrpAuthenticationError
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from hybridctl.errors import ExitCode
from hybridctl.transport.base import AuthenticationError, TLSValidationError, UnreachableError
from hybridctl.transport.winrm import WinRMTransport
from hybridctl.transport.winrm_settings import InsecureConnectionError, wsman_options
from tests.support.winrm import CertificateAuthority, WinRMEndpoint, harness_command
from tests.support.winrm_fixtures import (
    ConnectionFactory,
    EndpointFactory,
    RecordingLog,
    TransportFactory,
    WinRMAccount,
    WinRMPki,
)

SOAP_NS = b"http://www.w3.org/2003/05/soap-envelope"


def _echo(transport: WinRMTransport, text: str = "hello") -> str:
    result = transport.run(harness_command("test/echo", Text=text))
    assert result.ok, result.stderr
    return result.stdout


def test_winrm_https_basic_validates_the_certificate_against_the_ca_bundle(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory, winrm_pki: WinRMPki
) -> None:
    transport = winrm_transport_factory(https_endpoint, auth="basic")
    assert wsman_options("127.0.0.1", transport._settings)["cert_validation"] == str(winrm_pki.ca_file)
    assert _echo(transport) == "hello"
    assert https_endpoint.action_counts["Create"] == 1


def test_winrm_a_certificate_from_another_ca_is_refused(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory, winrm_pki: WinRMPki
) -> None:
    transport = winrm_transport_factory(https_endpoint, ca_bundle=str(winrm_pki.wrong_ca_file))
    with pytest.raises(TLSValidationError) as caught:
        transport.open()
    assert "did not validate" in caught.value.message
    assert caught.value.exit_code == ExitCode.UNREACHABLE
    assert not https_endpoint.action_counts, "no request may pass an unverified TLS session"


def test_winrm_insecure_mode_skips_validation_only_when_asked_twice(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory, winrm_pki: WinRMPki
) -> None:
    wrong = str(winrm_pki.wrong_ca_file)
    with pytest.raises(InsecureConnectionError):
        winrm_transport_factory(https_endpoint, ca_bundle=wrong, verify_certificate=False)
    transport = winrm_transport_factory(
        https_endpoint, ca_bundle=wrong, verify_certificate=False, insecure=True
    )
    assert _echo(transport) == "hello"


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_winrm_http_encrypts_every_message(
    http_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory, auth: str
) -> None:
    transport = winrm_transport_factory(http_endpoint, auth=auth)
    assert wsman_options("127.0.0.1", transport._settings)["encryption"] == "always"
    assert _echo(transport, "über geheim") == "über geheim"
    bodies = [record for record in http_endpoint.wire if record.head]
    assert bodies, "the endpoint saw no message bodies"
    for record in bodies:
        assert record.content_type.startswith("multipart/encrypted"), record
        assert b"application/HTTP-SPNEGO-session-encrypted" in record.head
        assert SOAP_NS not in record.head and b"Envelope" not in record.head


def test_winrm_the_endpoint_sees_plain_soap_over_tls(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory
) -> None:
    # The control for the test above: without message encryption the same endpoint does see SOAP.
    _echo(winrm_transport_factory(https_endpoint))
    assert any(SOAP_NS in record.head for record in https_endpoint.wire)


def test_winrm_ntlm_over_http_costs_three_requests_once_per_connection(
    http_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory
) -> None:
    transport = winrm_transport_factory(http_endpoint, auth="ntlm")
    transport.open()
    assert http_endpoint.request_count == 3 + 3  # blank POST, NEGOTIATE, AUTHENTICATE; Create + 2 Receive
    http_endpoint.reset_counts()
    _echo(transport)
    _echo(transport)
    assert http_endpoint.request_count == 4


@pytest.mark.parametrize("auth", ["basic", "certificate"])
def test_winrm_transport_refuses_credentials_in_clear_over_http(
    http_endpoint: WinRMEndpoint, winrm_connection: ConnectionFactory, auth: str
) -> None:
    settings = winrm_connection(http_endpoint, auth=auth)
    with pytest.raises(InsecureConnectionError, match="https"):
        WinRMTransport("win1", "127.0.0.1", settings)
    assert http_endpoint.request_count == 0


def test_winrm_endpoint_refuses_basic_over_http_like_windows(
    winrm_endpoint_factory: EndpointFactory, winrm_account: WinRMAccount
) -> None:
    endpoint = winrm_endpoint_factory("http", methods=frozenset({"basic", "ntlm"}))
    wsman = WSMan(
        "127.0.0.1",
        port=endpoint.port,
        ssl=False,
        auth="basic",
        encryption="never",
        username=winrm_account.user,
        password=winrm_account.password,
        no_proxy=True,
    )
    with pytest.raises(PsrpAuthenticationError):
        RunspacePool(wsman).open()
    wsman.close()
    assert not endpoint.action_counts


@pytest.mark.parametrize(("scheme", "auth"), [("https", "basic"), ("http", "ntlm"), ("https", "ntlm")])
def test_winrm_wrong_password_is_an_authentication_error(
    winrm_endpoint_factory: EndpointFactory,
    winrm_transport_factory: TransportFactory,
    command_log: RecordingLog,
    scheme: str,
    auth: str,
) -> None:
    endpoint = winrm_endpoint_factory(scheme)
    wrong = "Wr0ng-pa55word-xyz"
    transport = winrm_transport_factory(endpoint, auth=auth, password=wrong, log=command_log)
    with pytest.raises(AuthenticationError) as caught:
        transport.run(harness_command("test/echo", Text="x"))
    assert not caught.value.transient
    assert wrong not in str(caught.value) and wrong not in repr(transport) and wrong not in command_log.text()
    assert "vagrant" in caught.value.message


def test_winrm_client_certificate_authentication(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory, winrm_pki: WinRMPki
) -> None:
    transport = winrm_transport_factory(
        https_endpoint,
        auth="certificate",
        user=None,
        password=None,
        certificate_file=str(winrm_pki.client_cert),
        certificate_key_file=str(winrm_pki.client_key),
    )
    assert _echo(transport) == "hello"


def test_winrm_a_client_certificate_mapped_to_no_user_is_refused(
    https_endpoint: WinRMEndpoint,
    winrm_transport_factory: TransportFactory,
    winrm_pki: WinRMPki,
    tmp_path: Path,
) -> None:
    cert, key = winrm_pki.ca.issue_client("mallory").write(tmp_path, "mallory")
    transport = winrm_transport_factory(
        https_endpoint, auth="certificate", certificate_file=str(cert), certificate_key_file=str(key)
    )
    with pytest.raises(AuthenticationError):
        transport.open()
    assert not https_endpoint.action_counts


def test_winrm_a_client_certificate_from_an_unknown_ca_fails_the_handshake(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory, tmp_path: Path
) -> None:
    cert, key = CertificateAuthority("someone else").issue_client("vagrant").write(tmp_path, "stranger")
    transport = winrm_transport_factory(
        https_endpoint, auth="certificate", certificate_file=str(cert), certificate_key_file=str(key)
    )
    with pytest.raises(UnreachableError, match="TLS handshake"):
        transport.open()
    assert not https_endpoint.action_counts


def test_winrm_nothing_listening_is_unreachable(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory
) -> None:
    transport = winrm_transport_factory(https_endpoint)
    https_endpoint.stop()
    with pytest.raises(UnreachableError) as caught:
        transport.run(harness_command("test/echo", Text="x"))
    assert caught.value.transient
    assert "cannot connect" in caught.value.message


def test_winrm_password_stays_out_of_repr_and_logs(
    https_endpoint: WinRMEndpoint,
    winrm_transport_factory: TransportFactory,
    winrm_account: WinRMAccount,
    command_log: RecordingLog,
) -> None:
    transport = winrm_transport_factory(https_endpoint, log=command_log)
    _echo(transport)
    transport.run(harness_command("test/echo-stderr", Text=f"leaked {winrm_account.password}"))
    assert winrm_account.password not in repr(transport)
    assert winrm_account.password not in command_log.text()
    assert "leaked ***" in command_log.commands[-1][2].stderr


def test_winrm_ntlm_over_https_with_channel_binding(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory
) -> None:
    transport = winrm_transport_factory(https_endpoint, auth="ntlm")
    assert wsman_options("127.0.0.1", transport._settings)["encryption"] == "auto"  # TLS already encrypts
    assert _echo(transport, "bound") == "bound"
    # Over HTTPS the handshake rides on the first request: 401, NEGOTIATE/CHALLENGE, then the real one.
    assert https_endpoint.request_count == 2 + 3 + 2
