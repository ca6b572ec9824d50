"""One transport contract, run against the fake, the SSH and the WinRM transports.

Tier: ssh contract / winrm contract. Real: for "ssh", OpenSSH sshd on a test host in its own network
namespace and paramiko; for "winrm", the unmodified pypsrp client over HTTP(S) to the WinRM test endpoint;
for "winrm_kerberos_*", the same over Kerberos with tickets from a real MIT KDC on loopback (HTTP with
Kerberos message encryption; HTTPS with a certificate for the host name, checked against that name); for
"winrm_credssp_*", CredSSP (pypsrp + requests-credssp client, pyspnego's CredSSP acceptor, NTLM inside,
the delegated password checked) with CredSSP message encryption over HTTP, and over HTTPS.
Simulated: for "winrm", the Windows host behind the endpoint; for "fake", everything (in-memory host).
Transport-specific behaviour (host keys, sudo, CA validation, reboots, request counts) is tested in
tests/transport/.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridctl.transport.base import CommandTimeoutError, ConnectionLostError, Transport, UnreachableError
from tests.contract.harness import FakeHarness, Harness

NAMES = ["plain.txt", "with space.txt", 'quote\'s "and" $(dollar) `tick`.txt', "ünïcødé ✓.txt"]
TEXTS = ["hello", "multi\nline\n", "ünïcødé ✓ — 日本語", "$(echo nope) `nope` ; 'quoted' \"dq\""]


WINRM_AUTHS = ["winrm_kerberos_http", "winrm_kerberos_https", "winrm_credssp_http", "winrm_credssp_https"]


@pytest.fixture(params=["fake", "ssh", "winrm", *WINRM_AUTHS])
def harness(request: pytest.FixtureRequest) -> Harness:
    """Each transport in turn."""
    if request.param == "fake":
        return FakeHarness()
    return request.getfixturevalue(f"{request.param}_harness")  # type: ignore[no-any-return]


@pytest.fixture
def transport(harness: Harness) -> Iterator[Transport]:
    """A connected transport, closed afterwards."""
    t = harness.transport()
    yield t
    t.close()


@pytest.mark.parametrize("text", TEXTS)
def test_stdout_arrives_exactly(harness: Harness, transport: Transport, text: str) -> None:
    result = transport.run(harness.echo(text))
    assert result.ok
    assert result.stdout.rstrip("\r\n") == text.rstrip("\n")


def test_stderr_is_kept_apart_from_stdout(harness: Harness, transport: Transport) -> None:
    result = transport.run(harness.echo_stderr("to the error stream ✓"))
    assert "to the error stream ✓" in result.stderr
    assert "to the error stream" not in result.stdout


@pytest.mark.parametrize("code", [0, 1, 3, 42])
def test_exit_codes(harness: Harness, transport: Transport, code: int) -> None:
    result = transport.run(harness.exit_with(code))
    assert result.ok is (code == 0)
    if harness.exact_exit_codes:
        assert result.exit_code == code


@pytest.mark.parametrize("name", NAMES)
def test_put_and_get_round_trip_odd_file_names(harness: Harness, transport: Transport, name: str) -> None:
    data = f"content of {name}\n".encode() + os.urandom(64)
    path = harness.scratch_path(name)
    put = transport.put(data, path, 0o640)
    assert put.sha256 == hashlib.sha256(data).hexdigest()
    assert transport.get(path) == data


def test_put_replaces_an_existing_file(harness: Harness, transport: Transport) -> None:
    path = harness.scratch_path("replace.txt")
    transport.put(b"old content that is longer", path)
    transport.put(b"new", path)
    assert transport.get(path) == b"new"


def test_get_of_a_missing_file_raises_file_not_found(harness: Harness, transport: Transport) -> None:
    with pytest.raises(FileNotFoundError):
        transport.get(harness.scratch_path(f"missing-{uuid.uuid4().hex}"))


@pytest.mark.slow
def test_large_upload_is_verified_by_hash(harness: Harness, transport: Transport, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as stream:
        for _ in range(50):
            stream.write(os.urandom(1024 * 1024))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    path = harness.scratch_path("big.bin")
    heard: list[tuple[int, int | None]] = []
    put = transport.put(source, path, progress=lambda done, total: heard.append((done, total)))
    assert (put.size, put.sha256) == (50 * 1024 * 1024, digest)
    assert hashlib.sha256(transport.get(path)).hexdigest() == digest
    # the bytes sent so far, about once a second, then the whole: a long push shows it is moving
    assert heard[-1] == (put.size, put.size) and {total for _, total in heard} == {put.size}
    assert [done for done, _ in heard] == sorted(done for done, _ in heard)
    if put.duration >= 2.5:
        assert len(heard) >= 2, heard


def test_timeout_ends_the_remote_command(harness: Harness, transport: Transport) -> None:
    marker = f"hx-sleep-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError):
        transport.run(harness.sleep(30, marker), timeout=1.0)
    assert time.monotonic() - started < 15
    deadline = time.monotonic() + 10
    while harness.is_running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not harness.is_running(marker), "the remote command survived its timeout"


def test_connection_killed_mid_command_is_reported_as_lost(harness: Harness, transport: Transport) -> None:
    marker = f"hx-drop-{uuid.uuid4().hex[:8]}"
    killer = threading.Timer(0.7, harness.drop_connection, args=(transport,))
    killer.start()
    try:
        with pytest.raises(UnreachableError) as caught:
            transport.run(harness.sleep(20, marker), timeout=30)
    finally:
        killer.cancel()
    assert caught.value.transient
    assert isinstance(caught.value, ConnectionLostError | UnreachableError)
