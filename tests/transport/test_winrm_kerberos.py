"""WinRM over Kerberos against a real MIT KDC: host names for TLS and the SPN, tickets, failures, secrets.

Tier: winrm contract. Real: MIT krb5kdc on 127.0.0.1 (tests/support/kdc.py), kadmin.local and keytabs, the
unmodified pypsrp client with pyspnego + gssapi (AS and TGS exchanges with the KDC, AP exchange with the
endpoint), pyspnego's Kerberos acceptor over the keytab, Kerberos message encryption over HTTP, TLS with a
certificate issued to the host name, libfaketime for a KDC whose clock is off. Simulated: the Windows host
behind the endpoint. Not covered: Active Directory specifics (PAC, constrained delegation, SPN aliases).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from hybridctl.errors import ExitCode
from hybridctl.transport.base import AuthenticationError, TLSValidationError
from hybridctl.transport.kerberos import CACHE_NAME, KerberosTickets
from hybridctl.transport.winrm import WinRMTransport
from hybridctl.transport.winrm_settings import InsecureConnectionError, wsman_options
from tests.support.kdc import FAKETIME_LIB, REALM, Kdc, client_config
from tests.support.kerberos_fixtures import (
    HOSTNAME,
    UNREGISTERED_HOSTNAME,
    KerberosConnectionFactory,
    Realm,
)
from tests.support.winrm import WinRMEndpoint, harness_command
from tests.support.winrm_fixtures import RecordingLog

SOAP_NS = b"http://www.w3.org/2003/05/soap-envelope"


def _echo(transport: WinRMTransport, text: str = "hello") -> str:
    result = transport.run(harness_command("test/echo", Text=text))
    assert result.ok, result.stderr
    return result.stdout


@pytest.fixture
def transports() -> list[WinRMTransport]:
    """Transports a test opened; closed at teardown."""
    opened: list[WinRMTransport] = []
    yield opened  # type: ignore[misc]
    for transport in opened:
        transport.close()


def _transport(
    opened: list[WinRMTransport],
    settings: object,
    *,
    tickets: KerberosTickets | None = None,
    name: str = "win1",
    **kw: object,
) -> WinRMTransport:
    transport = WinRMTransport(name, "127.0.0.1", settings, tickets=tickets, **kw)  # type: ignore[arg-type]
    opened.append(transport)
    return transport


def test_kerberos_over_http_encrypts_every_message(
    kerberos_endpoint_factory, kerberos_connection: KerberosConnectionFactory, transports, tmp_path: Path
) -> None:
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    tickets = KerberosTickets(tmp_path)
    transport = _transport(transports, kerberos_connection(endpoint), tickets=tickets)
    assert _echo(transport, "über geheim") == "über geheim"
    assert endpoint.shells and next(iter(endpoint.shells.values())) is not None
    bodies = [record for record in endpoint.wire if record.head]
    assert bodies
    for record in bodies:
        assert record.content_type.startswith("multipart/encrypted"), record
        assert SOAP_NS not in record.head and b"Envelope" not in record.head
    cache = tmp_path / CACHE_NAME
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    tickets.destroy()
    assert not cache.exists()


def _kdc_log_count(realm: Realm, needle: str) -> int:
    return realm.kdc.log.read_text(errors="replace").count(needle)


def test_kerberos_https_checks_the_certificate_against_the_host_name(
    kerberos_endpoint_factory, kerberos_connection: KerberosConnectionFactory, transports
) -> None:
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("https")
    transport = _transport(transports, kerberos_connection(endpoint))
    assert transport.url.startswith("https://127.0.0.1:"), "hybridctl connects to the address, not by DNS"
    assert _echo(transport) == "hello"


@pytest.mark.parametrize("certificate", ["wrong-name", "ip-address"])
def test_kerberos_https_refuses_a_certificate_for_another_name(
    kerberos_endpoint_factory,
    kerberos_connection: KerberosConnectionFactory,
    *,
    kerberos_realm: Realm,
    winrm_pki,
    transports,
    certificate: str,
) -> None:
    # "ip-address": the certificate is valid for 127.0.0.1, the address connected to; with hostname set
    # it must still be refused (no silent fallback to the IP).
    files = {
        "wrong-name": (kerberos_realm.wrong_name_cert, kerberos_realm.wrong_name_key),
        "ip-address": (winrm_pki.server_cert, winrm_pki.server_key),
    }[certificate]
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("https", cert_file=files[0], key_file=files[1])
    transport = _transport(transports, kerberos_connection(endpoint))
    with pytest.raises(TLSValidationError) as caught:
        transport.open()
    assert HOSTNAME in caught.value.message, caught.value.message
    assert caught.value.exit_code == ExitCode.UNREACHABLE
    assert not endpoint.action_counts, "no request may pass an unverified TLS session"


def test_kerberos_wrong_password_is_asked_once_per_run(
    kerberos_endpoint_factory,
    kerberos_connection: KerberosConnectionFactory,
    kerberos_realm: Realm,
    transports,
    tmp_path: Path,
) -> None:
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    settings = kerberos_connection(endpoint, password=SecretStr("not-the-password"))
    tickets = KerberosTickets(tmp_path)
    before = _kdc_log_count(kerberos_realm, "PREAUTH_FAILED")
    errors = []
    for name in ("win1", "win2", "win3"):  # three hosts of one run with the same account
        with pytest.raises(AuthenticationError) as caught:
            _transport(transports, settings, tickets=tickets, name=name).open()
        errors.append(caught.value)
    assert errors[0].message.startswith("win1: the KDC refused the password of alice@HYBRIDCTL.TEST")
    assert "locked out" in errors[0].message
    assert errors[2].message.startswith("win3: the KDC refused the password"), errors[2].message
    assert "not asked again" in errors[2].message
    assert all(not e.transient and e.exit_code == ExitCode.UNREACHABLE for e in errors)
    time.sleep(0.2)
    assert _kdc_log_count(kerberos_realm, "PREAUTH_FAILED") - before == 1, "a wrong password is never retried"
    assert endpoint.request_count == 0
    assert not (tmp_path / CACHE_NAME).exists()


def test_kerberos_unknown_principal(
    kerberos_endpoint_factory, kerberos_connection: KerberosConnectionFactory, transports
) -> None:
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    transport = _transport(transports, kerberos_connection(endpoint, user=f"mallory@{REALM}"))
    with pytest.raises(AuthenticationError, match=r"does not know the principal mallory@HYBRIDCTL\.TEST"):
        transport.open()


def test_kerberos_spn_not_registered(
    kerberos_endpoint_factory, kerberos_connection: KerberosConnectionFactory, transports
) -> None:
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    transport = _transport(transports, kerberos_connection(endpoint, hostname=UNREGISTERED_HOSTNAME))
    with pytest.raises(AuthenticationError) as caught:
        transport.open()
    assert f"HTTP/{UNREGISTERED_HOSTNAME}" in caught.value.message
    assert "SPN not registered" in caught.value.message
    assert "setspn" in (caught.value.hint or "")
    assert caught.value.exit_code == ExitCode.UNREACHABLE


def test_kerberos_spn_service_wsman(
    kerberos_endpoint_factory,
    kerberos_connection: KerberosConnectionFactory,
    kerberos_realm: Realm,
    transports,
) -> None:
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    before = _kdc_log_count(kerberos_realm, f"WSMAN/{HOSTNAME}")
    transport = _transport(transports, kerberos_connection(endpoint, spn_service="WSMAN"))
    assert _echo(transport) == "hello"
    assert _kdc_log_count(kerberos_realm, f"WSMAN/{HOSTNAME}") > before, "the KDC issued a WSMAN/ ticket"


def test_kerberos_uses_the_users_ticket_without_a_password(
    kerberos_endpoint_factory,
    kerberos_connection: KerberosConnectionFactory,
    *,
    kerberos_realm: Realm,
    transports,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "user-cache"
    kerberos_realm.kdc.kinit(kerberos_realm.principal, kerberos_realm.password, cache)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")
    content = cache.read_bytes()
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    transport = _transport(transports, kerberos_connection(endpoint, password=None))
    assert _echo(transport) == "hello"
    transport.close()
    assert cache.exists() and os.environ["KRB5CCNAME"] == f"FILE:{cache}", "the user's cache is left alone"
    assert cache.read_bytes().startswith(content[:64])


def test_kerberos_expired_user_ticket(
    kerberos_endpoint_factory,
    kerberos_connection: KerberosConnectionFactory,
    *,
    kerberos_realm: Realm,
    transports,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "user-cache"
    kerberos_realm.kdc.kinit(kerberos_realm.principal, kerberos_realm.password, cache, lifetime="2s")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")
    time.sleep(3)
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    transport = _transport(transports, kerberos_connection(endpoint, password=None))
    with pytest.raises(AuthenticationError) as caught:
        transport.open()
    assert "expired" in caught.value.message, caught.value.message
    assert "kinit" in (caught.value.hint or "")
    assert caught.value.exit_code == ExitCode.UNREACHABLE
    assert endpoint.request_count == 0


@pytest.mark.parametrize("timesync", [False, True], ids=["kdc_timesync-off", "kdc_timesync-on"])
def test_kerberos_clock_skew_beyond_tolerance(
    kerberos_endpoint_factory,
    kerberos_connection: KerberosConnectionFactory,
    *,
    kerberos_realm: Realm,
    transports,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    timesync: bool,
) -> None:
    # A second KDC of the same realm whose clock runs 2 hours ahead (libfaketime), like an unsynchronised DC.
    # kdc_timesync off: the AS exchange fails. On (MIT's default): the AS exchange adopts the KDC's clock, the
    # service ticket request still fails. Both are reported as clock skew.
    skewed = Kdc(tmp_path / "skewed", clock_offset="+2h")
    skewed.create()
    skewed.add_user("alice", kerberos_realm.password)
    skewed.krb5_conf.write_text(client_config(skewed.port, timesync=timesync))
    assert FAKETIME_LIB.exists()
    skewed.start()
    try:
        monkeypatch.setenv("KRB5_CONFIG", str(skewed.krb5_conf))
        endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
        transport = _transport(transports, kerberos_connection(endpoint))
        with pytest.raises(AuthenticationError) as caught:
            transport.open()
    finally:
        skewed.stop()
    assert "clock skew" in caught.value.message, caught.value.message
    assert "NTP" in (caught.value.hint or "")
    assert caught.value.exit_code == ExitCode.UNREACHABLE


_RUN = """
import sys, time
from pydantic import SecretStr
from hybridctl.appenv import AppEnv
from hybridctl.inventory.models import *
from hybridctl.session import RunSettings, Session
state, inventory, port, user, password, hostname = sys.argv[1:7]
winrm = WinRMConnection(user=user, password=SecretStr(password), auth="kerberos", hostname=hostname,
                        scheme="http", port=int(port), operation_timeout=5, read_timeout=10)
host = Host(name="win1", address="127.0.0.1", role="worker", os="windows", winrm=winrm)
spec = ClusterSpec(kubernetes=KubernetesSpec(version="1.37.2"), hosts=[host])
cluster = Cluster(api_version=API_VERSION, kind=KIND, metadata=Metadata(name="krb"), spec=spec)
from pathlib import Path
with Session(AppEnv(inventory=Path(inventory)), cluster, RunSettings(state_dir=Path(state)), "test") as s:
    transport = s._default_factory()(host)
    print("connected", flush=True)
    if sys.argv[7] == "wait":
        time.sleep(60)
    transport.close()
"""


def _session_run(realm: Realm, endpoint: WinRMEndpoint, state: Path, mode: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-c", _RUN, str(state), str(state / "inventory.yaml"), str(endpoint.port)]
    argv += [realm.principal, realm.password, HOSTNAME, mode]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_private_cache_is_0600_gone_after_the_run_and_after_sigkill_on_the_next_run(
    kerberos_endpoint_factory, kerberos_realm: Realm, tmp_path: Path
) -> None:
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    state = tmp_path / "state"
    cache = state / CACHE_NAME
    killed = _session_run(kerberos_realm, endpoint, state, "wait")
    try:
        assert killed.stdout is not None and killed.stdout.readline().strip() == "connected"
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600
        assert os.environ.get("KRB5CCNAME") != f"FILE:{cache}", "the test process's cache is untouched"
    finally:
        killed.kill()  # SIGKILL: no cleanup runs
        killed.communicate()
    assert cache.exists(), "SIGKILL leaves the cache behind"
    assert kerberos_realm.password.encode() not in cache.read_bytes()
    again = _session_run(kerberos_realm, endpoint, state, "close")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "removed the Kerberos ticket cache of a run that was killed" in err
    assert not cache.exists(), "the next run destroys its cache at the end"
    leftovers = [p for p in state.rglob("*") if p.is_file()]
    for path in leftovers:
        assert kerberos_realm.password.encode() not in path.read_bytes(), path
    assert kerberos_realm.password not in out + err


def test_kerberos_secrets_stay_out_of_logs_and_errors(
    kerberos_endpoint_factory,
    kerberos_connection: KerberosConnectionFactory,
    kerberos_realm: Realm,
    transports,
    tmp_path: Path,
) -> None:
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    log = RecordingLog()
    tickets = KerberosTickets(tmp_path)
    transport = _transport(transports, kerberos_connection(endpoint), tickets=tickets, log=log)
    _echo(transport)
    wrong = _transport(
        transports,
        kerberos_connection(endpoint, user=f"bob@{REALM}", password=SecretStr("Wr0ng-" + "x" * 8)),
        tickets=tickets,
        log=log,
    )
    with pytest.raises(AuthenticationError) as caught:
        wrong.open()
    text = log.text() + repr(transport) + str(caught.value) + (caught.value.hint or "")
    assert kerberos_realm.password not in text and "Wr0ng-" not in text
    assert tickets.ccache not in text, "the cache's location is not logged either"
    tickets.destroy()
    assert not (tmp_path / CACHE_NAME).exists()


def test_kerberos_pypsrp_options_carry_the_spn_and_no_password(
    kerberos_endpoint_factory, kerberos_connection: KerberosConnectionFactory
) -> None:
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    options = wsman_options("127.0.0.1", kerberos_connection(endpoint, spn_service="WSMAN"))
    assert options["server"] == "127.0.0.1"
    assert (options["negotiate_service"], options["negotiate_hostname_override"]) == ("WSMAN", HOSTNAME)
    assert options["password"] is None, "pypsrp gets the ticket from the cache, never the password"
    assert options["encryption"] == "always"
    with pytest.raises(InsecureConnectionError, match="hostname"):
        WinRMTransport("win1", "127.0.0.1", kerberos_connection(endpoint, hostname=None))


def test_negotiate_picks_kerberos_when_ntlm_is_off(
    kerberos_endpoint_factory,
    kerberos_connection: KerberosConnectionFactory,
    kerberos_realm: Realm,
    transports,
) -> None:
    # auth: negotiate with a password: pyspnego gets its own ticket (no hybridctl cache) and uses Kerberos.
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    before = _kdc_log_count(kerberos_realm, f"HTTP/{HOSTNAME}")
    transport = _transport(transports, kerberos_connection(endpoint, auth="negotiate"))
    assert _echo(transport) == "hello"
    assert _kdc_log_count(kerberos_realm, f"HTTP/{HOSTNAME}") > before


def test_hostname_is_checked_for_every_https_auth(
    winrm_endpoint_factory, winrm_transport_factory, kerberos_realm: Realm
) -> None:
    # Basic over HTTPS with a certificate for the host name: accepted with hostname set, refused without it
    # (the certificate does not name 127.0.0.1) -- the check follows the name, never the address.
    endpoint: WinRMEndpoint = winrm_endpoint_factory(
        "https", cert_file=kerberos_realm.server_cert, key_file=kerberos_realm.server_key
    )
    named = winrm_transport_factory(endpoint, auth="basic", hostname=HOSTNAME)
    assert _echo(named) == "hello"
    unnamed = winrm_transport_factory(endpoint, auth="basic")
    with pytest.raises(TLSValidationError):
        unnamed.open()


def test_the_kerberos_endpoint_refuses_ntlm(
    kerberos_endpoint_factory, winrm_transport_factory, transports
) -> None:
    # The control for every Kerberos test here: the endpoint really insists on Kerberos.
    endpoint: WinRMEndpoint = kerberos_endpoint_factory("http")
    ntlm = winrm_transport_factory(endpoint, auth="ntlm")
    with pytest.raises(AuthenticationError):
        ntlm.open()
