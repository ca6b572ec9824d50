"""SSH logins: key file, passphrase-protected key, agent, password, sudo users and a bastion hop.

Tier: ssh contract. Real: OpenSSH sshd (with PAM) on Linux test hosts in network namespaces, real users and
sudoers rules inside each host, a real ``ssh-agent`` process, paramiko. Simulated: nothing.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hybridctl.commands import posix
from hybridctl.transport.base import AuthenticationError, HostKeyError, SudoPasswordError, UnreachableError
from hybridctl.transport.hostkeys import KnownHosts
from hybridctl.transport.ssh import SSHTransport
from tests.support.ci import require_tool
from tests.support.hosts_fixtures import Connect, HostFactory, RecordingLog
from tests.support.linux_hosts import LinuxTestHosts, TestHost


def _whoami(transport: SSHTransport) -> str:
    return transport.run(posix("id", "-un")).stdout.strip()


def test_root_logs_in_with_a_key_file(
    linux_host: TestHost, ssh_connect: Connect, ssh_log: RecordingLog
) -> None:
    transport = ssh_connect(linux_host)
    assert _whoami(transport) == "root"
    assert transport.info is not None and transport.info.auth.startswith("key ")
    assert f"connected to root@{linux_host.address}:22" in ssh_log.text


def test_passphrase_protected_key(linux_host: TestHost, ssh_connect: Connect, ssh_log: RecordingLog) -> None:
    keys = linux_host.keys
    transport = ssh_connect(linux_host, private_key_file=str(keys.encrypted_key), passphrase=keys.passphrase)
    assert _whoami(transport) == "root"
    assert keys.passphrase not in ssh_log.text
    assert keys.passphrase not in repr(transport)


def test_key_the_host_does_not_accept_is_an_authentication_error(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path
) -> None:
    stranger = tmp_path / "id_stranger"
    stranger.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    with pytest.raises(AuthenticationError, match=f"tried: key {stranger}") as caught:
        ssh_connect(linux_host, private_key_file=str(stranger))
    assert not caught.value.transient


def test_protected_key_without_passphrase_says_so(linux_host: TestHost, ssh_connect: Connect) -> None:
    with pytest.raises(AuthenticationError, match="passphrase-protected"):
        ssh_connect(linux_host, private_key_file=str(linux_host.keys.encrypted_key))


def test_wrong_passphrase_is_an_authentication_error_without_the_passphrase(
    linux_host: TestHost, ssh_connect: Connect
) -> None:
    wrong = "wrong-passphrase-5150"
    with pytest.raises(AuthenticationError) as caught:
        ssh_connect(linux_host, private_key_file=str(linux_host.keys.encrypted_key), passphrase=wrong)
    assert wrong not in str(caught.value) and wrong not in (caught.value.hint or "")
    assert not caught.value.transient


@pytest.fixture
def ssh_agent(linux_lab: LinuxTestHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real ssh-agent holding the lab's client key; stopped by its pid afterwards."""
    require_tool("ssh-agent", "apt-get install -y openssh-client")
    require_tool("ssh-add", "apt-get install -y openssh-client")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(linux_lab.keys.key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        agent.terminate()
        agent.wait(timeout=5)


def test_agent_login(linux_host: TestHost, ssh_connect: Connect, ssh_agent: Path) -> None:
    transport = ssh_connect(linux_host, private_key_file=None, agent=True)
    assert _whoami(transport) == "root"
    assert transport.info is not None and transport.info.auth == "agent"


def test_default_identity_when_nothing_is_configured(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_bytes(linux_host.keys.key.read_bytes())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    transport = ssh_connect(linux_host, private_key_file=None)
    assert transport.info is not None and transport.info.auth == "key ~/.ssh/id_ed25519"


def test_password_login(linux_host: TestHost, ssh_connect: Connect, ssh_log: RecordingLog) -> None:
    alice = linux_host.users["alice"]
    transport = ssh_connect(linux_host, "alice", private_key_file=None, password=alice.password)
    assert transport.info is not None and transport.info.auth == "password"
    assert _whoami(transport) == "root"  # alice's commands run through sudo -n
    assert alice.password not in ssh_log.text
    assert alice.password not in repr(transport)


def test_wrong_password_is_an_authentication_error(linux_host: TestHost, ssh_connect: Connect) -> None:
    wrong = "not-alices-password-77"
    with pytest.raises(AuthenticationError, match="refused 'alice'") as caught:
        ssh_connect(linux_host, "alice", private_key_file=None, password=wrong)
    assert wrong not in str(caught.value)
    assert not caught.value.transient


def test_passwordless_sudo_user_runs_commands_as_root(linux_host: TestHost, ssh_connect: Connect) -> None:
    transport = ssh_connect(linux_host, "alice")
    result = transport.run(posix("id", "-u"))
    assert result.stdout.strip() == "0"
    assert result.command == "sudo -n -- id -u"


def test_sudo_without_root_can_be_turned_off(linux_host: TestHost, ssh_connect: Connect) -> None:
    transport = ssh_connect(linux_host, "alice", sudo=False)
    assert _whoami(transport) == "alice"


def test_sudo_that_asks_for_a_password_fails_clearly(linux_host: TestHost, ssh_connect: Connect) -> None:
    with pytest.raises(SudoPasswordError, match="asks 'bob' for a password") as caught:
        ssh_connect(linux_host, "bob")
    assert "NOPASSWD" in (caught.value.hint or "")
    assert not caught.value.transient


def test_bastion_hop(linux_hosts: HostFactory, ssh_connect: Connect, linux_lab: LinuxTestHosts) -> None:
    jump, target = linux_hosts(2)
    bastion = {"address": jump.address, "private_key_file": str(jump.keys.key)}
    transport = ssh_connect(
        target, known_hosts=KnownHosts(linux_lab.known_hosts, user_file=None), bastion=bastion
    )
    assert transport.run(posix("hostname")).stdout.strip() == target.name
    assert transport.info is not None and transport.info.via == f"bastion {jump.address}:22"
    # the target sees the connection coming from the bastion, not from the test machine
    sessions = target.exec("ss", "-Htn", "state", "established", "( sport = :22 )").stdout
    assert f"{jump.address}:" in sessions


def test_bastion_host_key_is_checked_too(linux_hosts: HostFactory, ssh_connect: Connect) -> None:
    jump, target = linux_hosts(2)
    bastion = {"address": jump.address, "private_key_file": str(jump.keys.key)}
    # the target's own known_hosts does not list the bastion
    with pytest.raises(HostKeyError, match=jump.address):
        ssh_connect(target, bastion=bastion)


def test_bastion_that_cannot_reach_the_target_is_unreachable(
    linux_hosts: HostFactory, ssh_connect: Connect, linux_lab: LinuxTestHosts
) -> None:
    jump, target = linux_hosts(2)
    target.stop()
    bastion = {"address": jump.address, "private_key_file": str(jump.keys.key)}
    known = KnownHosts(linux_lab.known_hosts, user_file=None)
    with pytest.raises(UnreachableError, match="bastion cannot reach"):
        ssh_connect(target, known_hosts=known, bastion=bastion)
