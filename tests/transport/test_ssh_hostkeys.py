"""Host key checking: known_hosts parsing and matching, and strict / accept-new / changed-key behaviour.

Tier: unit (parsing, matching, forget) and ssh contract (everything that connects). Real: OpenSSH sshd on
Linux test hosts in network namespaces, each with its own ed25519 host key; paramiko. Simulated: a "changed"
host key is a known_hosts entry holding a different key for the host's address (the host keeps its key).
"""

from __future__ import annotations

import base64
import re
import stat
import threading
import time
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hybridctl.commands import posix
from hybridctl.transport.base import HostKeyError
from hybridctl.transport.hostkeys import KnownHosts, fingerprint, forget, host_entry, read_known_hosts
from tests.support.hosts_fixtures import Connect
from tests.support.linux_hosts import TestHost


def _new_key() -> paramiko.PKey:
    public = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    key_type, blob = public.split()[:2]
    return paramiko.PKey.from_type_string(key_type.decode(), base64.b64decode(blob))


def _line(name: str, key: paramiko.PKey, marker: str = "") -> str:
    return f"{marker + ' ' if marker else ''}{name} {key.get_name()} {key.get_base64()}\n"


def _client_ports(host: TestHost) -> set[str]:
    """Client ports sshd logged a connection from (sshd writes the line when the session ends)."""
    log = (host.state_dir / "sshd.log").read_text()
    return set(re.findall(r"(?:by|from) [\d.]+ port (\d+)", log))


def _wait_for_client_ports(host: TestHost, count: int) -> set[str]:
    deadline = time.monotonic() + 3
    while len(_client_ports(host)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # and no later ones
    return _client_ports(host)


# --- unit: matching and files ------------------------------------------------------------------------


def test_entry_names_use_brackets_for_other_ports() -> None:
    assert host_entry("10.0.0.5", 22) == "10.0.0.5"
    assert host_entry("10.0.0.5", 2222) == "[10.0.0.5]:2222"


def test_hashed_wildcard_and_negated_patterns_match_like_openssh(tmp_path: Path) -> None:
    key = _new_key()
    hashed = paramiko.HostKeys.hash_host("[10.1.2.3]:2222")
    path = tmp_path / "known_hosts"
    path.write_text(
        "# comment\n\n"
        + _line(hashed, key)
        + _line("10.9.*,!10.9.9.9", key)
        + _line("node?.example", key)
        + "garbage line\n"
    )
    entries = read_known_hosts(path)
    assert len(entries) == 3
    assert entries[0].matches("[10.1.2.3]:2222") and not entries[0].matches("10.1.2.3")
    assert entries[1].matches("10.9.1.1") and not entries[1].matches("10.9.9.9")
    assert entries[2].matches("NODE1.example") and not entries[2].matches("node12.example")


def test_brackets_are_literal_not_character_classes(tmp_path: Path) -> None:
    key = _new_key()
    path = tmp_path / "known_hosts"
    path.write_text(_line("[10.1.2.3]:2222", key))
    (entry,) = read_known_hosts(path)
    assert entry.matches("[10.1.2.3]:2222")
    assert not entry.matches("1")


def test_revoked_key_is_refused_even_when_also_listed(tmp_path: Path) -> None:
    key = _new_key()
    path = tmp_path / "known_hosts"
    path.write_text(_line("10.1.2.3", key) + _line("*", key, "@revoked"))
    with pytest.raises(HostKeyError, match="revoked"):
        KnownHosts(path, user_file=None).verify("node1", "10.1.2.3", 22, key)


def test_rsa_entries_prefer_sha2_signatures(tmp_path: Path) -> None:
    rsa = paramiko.RSAKey.generate(1024)
    path = tmp_path / "known_hosts"
    path.write_text(_line("10.1.2.3", rsa))
    assert KnownHosts(path, user_file=None).key_types("10.1.2.3", 22) == [
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-rsa",
    ]


def test_forget_removes_every_port_and_the_recorded_name_only(tmp_path: Path) -> None:
    key = _new_key()
    path = tmp_path / "known_hosts"
    path.write_text(
        "# keep me\n"
        + _line("10.1.2.3", key)
        + _line("[10.1.2.3]:2222", key)
        + f"10.7.7.7 {key.get_name()} {key.get_base64()} hybridctl-host=node7\n"
        + _line("10.1.2.30", key)
    )
    assert forget(path, ["10.1.2.3"]) == 2
    assert forget(path, ["node7"]) == 1
    assert forget(path, ["unknown"]) == 0
    assert path.read_text() == "# keep me\n" + _line("10.1.2.30", key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_parallel_connections_record_every_new_key(tmp_path: Path) -> None:
    """Each connection has its own KnownHosts (as the transport factory builds them), one file."""
    path = tmp_path / "state" / "known_hosts"
    keys = {f"10.1.0.{n}": _new_key() for n in range(1, 41)}
    threads = [
        threading.Thread(
            target=KnownHosts(path, accept_new=True, user_file=None).verify,
            args=(f"node{n}", address, 22, key),
        )
        for n, (address, key) in enumerate(keys.items())
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorded = {entry.patterns: entry.key_base64 for entry in read_known_hosts(path)}
    assert recorded == {address: key.get_base64() for address, key in keys.items()}


def test_forget_on_a_missing_file_is_a_no_op(tmp_path: Path) -> None:
    assert forget(tmp_path / "absent", ["node1"]) == 0
    assert not (tmp_path / "absent").exists()


def test_fingerprint_matches_ssh_keygen_format() -> None:
    assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", fingerprint(_new_key()))


# --- ssh contract: real hosts --------------------------------------------------------------------------


def test_unknown_host_key_is_refused_in_strict_mode(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path
) -> None:
    project = tmp_path / "state" / "known_hosts"
    with pytest.raises(HostKeyError, match="unknown host key") as caught:
        ssh_connect(linux_host, known_hosts=KnownHosts(project, user_file=None))
    assert "--accept-new-host-keys" in (caught.value.hint or "")
    assert not caught.value.transient
    assert not project.exists()


def test_accept_new_records_the_key_with_mode_0600(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path
) -> None:
    project = tmp_path / "state" / "known_hosts"
    ssh_connect(linux_host, known_hosts=KnownHosts(project, accept_new=True, user_file=None))
    assert stat.S_IMODE(project.stat().st_mode) == 0o600
    (entry,) = read_known_hosts(project)
    assert entry.patterns == linux_host.address
    assert f"{entry.key_type} {entry.key_base64}" == linux_host.host_key.strip()
    assert entry.recorded_name == linux_host.name
    # now known: strict mode accepts it, and nothing more is written
    before = project.read_text()
    assert ssh_connect(linux_host, known_hosts=KnownHosts(project, user_file=None)).run(posix("true")).ok
    assert project.read_text() == before


def test_accept_new_on_another_port_records_bracketed_entry(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path
) -> None:
    project = tmp_path / "known_hosts"
    known = KnownHosts(project, accept_new=True, user_file=None)
    ssh_connect(linux_host, known_hosts=known, port=linux_host.alt_port)
    assert [e.patterns for e in read_known_hosts(project)] == [
        f"[{linux_host.address}]:{linux_host.alt_port}"
    ]


def test_changed_host_key_is_a_hard_failure_naming_forget(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path
) -> None:
    project = tmp_path / "known_hosts"
    project.write_text(f"{linux_host.address} {_new_key().get_name()} {_new_key().get_base64()}\n")
    before = _client_ports(linux_host)
    with pytest.raises(HostKeyError, match="CHANGED") as caught:
        # accept_new never covers a changed key
        ssh_connect(linux_host, known_hosts=KnownHosts(project, accept_new=True, user_file=None))
    assert f"hybridctl hosts forget {linux_host.name}" in (caught.value.hint or "")
    assert not caught.value.transient, "a changed host key must never be retried"
    assert len(_wait_for_client_ports(linux_host, len(before) + 1) - before) == 1, "one connection attempt"


def test_forget_then_accept_new_re_keys_the_host(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path
) -> None:
    project = tmp_path / "known_hosts"
    old = _new_key()
    project.write_text(
        f"{linux_host.address} {old.get_name()} {old.get_base64()} hybridctl-host={linux_host.name}\n"
    )
    with pytest.raises(HostKeyError):
        ssh_connect(linux_host, known_hosts=KnownHosts(project, user_file=None))
    assert forget(project, [linux_host.name]) == 1
    transport = ssh_connect(linux_host, known_hosts=KnownHosts(project, accept_new=True, user_file=None))
    assert transport.run(posix("hostname")).stdout.strip() == linux_host.name
    assert [e.patterns for e in read_known_hosts(project)] == [linux_host.address]


def test_user_known_hosts_is_consulted_and_never_written(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path
) -> None:
    user_file = tmp_path / "home" / ".ssh" / "known_hosts"
    user_file.parent.mkdir(parents=True)
    user_file.write_text(linux_host.known_hosts_line())
    project = tmp_path / "state" / "known_hosts"
    ssh_connect(linux_host, known_hosts=KnownHosts(project, accept_new=True, user_file=user_file))
    assert not project.exists()
    assert user_file.read_text() == linux_host.known_hosts_line()


def test_changed_key_in_user_known_hosts_points_to_ssh_keygen(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path
) -> None:
    user_file = tmp_path / "known_hosts.user"
    user_file.write_text(_line(linux_host.address, _new_key()))
    known = KnownHosts(tmp_path / "known_hosts", user_file=user_file)
    with pytest.raises(HostKeyError, match="CHANGED") as caught:
        ssh_connect(linux_host, known_hosts=known)
    assert "ssh-keygen -R" in (caught.value.hint or "")
