"""Running commands over SSH: output, exit codes, connection reuse, timeouts, lost and unreachable hosts.

Tier: ssh contract. Real: OpenSSH sshd on Linux test hosts in network namespaces, paramiko, TCP through a
kernel bridge; a timed-out command is looked for in the host's process table afterwards. Simulated: a
dropped connection is the host's sshd session processes being killed; an unreachable host is its veth link
set down (packets vanish) or its sshd stopped (connections refused).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from hybridctl.commands import posix, powershell, shell
from hybridctl.transport import ssh
from hybridctl.transport.base import CommandTimeoutError, ConnectionLostError, UnreachableError
from hybridctl.transport.ssh import SSHTransport
from tests.support.hosts_fixtures import Connect, RecordingLog
from tests.support.linux_hosts import TestHost


def _marker() -> str:
    return f"hx-{uuid.uuid4().hex[:10]}"


def _sleeper(marker: str, seconds: int = 60) -> list[str]:
    """argv of one process that sleeps and carries ``marker`` as its argv[0]."""
    return ["bash", "-c", 'exec -a "$0" sleep "$1"', marker, str(seconds)]


def _wait_gone(host: TestHost, marker: str, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while host.is_running(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_tcp_nodelay_is_set(linux_host: TestHost, ssh_connect: Connect) -> None:
    transport = ssh_connect(linux_host)
    assert transport.info is not None and transport.info.nodelay


def test_one_connection_serves_many_commands(linux_host: TestHost, ssh_connect: Connect) -> None:
    transport = ssh_connect(linux_host)
    assert transport.info is not None
    port = transport.info.local_port
    for number in range(30):
        assert transport.run(posix("echo", str(number))).stdout == f"{number}\n"
    assert linux_host.ssh_connections() == 1
    assert transport.info.local_port == port
    log = (linux_host.state_dir / "sshd.log").read_text()
    assert log.count("Accepted publickey") == 1


def test_non_ascii_output_and_separate_streams(linux_host: TestHost, ssh_connect: Connect) -> None:
    transport = ssh_connect(linux_host)
    result = transport.run(shell('printf %s "$1"; printf %s "$2" >&2; exit 3', "stdout ✓ 日本", "stderr — ü"))
    assert (result.exit_code, result.stdout, result.stderr) == (3, "stdout ✓ 日本", "stderr — ü")


def test_invalid_utf8_is_replaced_not_fatal(linux_host: TestHost, ssh_connect: Connect) -> None:
    result = ssh_connect(linux_host).run(shell("printf '\\377ok'"))
    assert result.stdout == "\ufffdok"


def test_large_interleaved_output_does_not_stall(linux_host: TestHost, ssh_connect: Connect) -> None:
    # both streams share one flow-control window: reading only stdout would deadlock here
    script = "for i in $(seq 1 40000); do echo out-$i; echo err-$i >&2; done"
    result = ssh_connect(linux_host).run(shell(script), timeout=60)
    assert result.stdout.count("\n") == 40000 and result.stderr.count("\n") == 40000
    assert result.stdout.endswith("out-40000\n") and result.stderr.endswith("err-40000\n")


def test_stdin_and_environment_reach_the_command(linux_host: TestHost, ssh_connect: Connect) -> None:
    transport = ssh_connect(linux_host)
    assert transport.run(posix("cat", stdin=b"piped \xc3\xbc")).stdout == "piped ü"
    assert transport.run(posix("sh", "-c", 'printf %s "$GREETING"', env={"GREETING": "hi there"})).stdout == (
        "hi there"
    )


def test_exit_code_124_before_the_deadline_is_not_a_timeout(
    linux_host: TestHost, ssh_connect: Connect
) -> None:
    result = ssh_connect(linux_host).run(shell("exit 124"), timeout=30)
    assert result.exit_code == 124


def test_powershell_commands_are_refused(linux_host: TestHost, ssh_connect: Connect) -> None:
    with pytest.raises(TypeError):
        ssh_connect(linux_host).run(powershell("# hybridctl-script: x/y\nparam()\n"))


@pytest.mark.parametrize("user", ["root", "alice"])
def test_timeout_ends_the_remote_process(linux_host: TestHost, ssh_connect: Connect, user: str) -> None:
    transport = ssh_connect(linux_host, user)
    marker = _marker()
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError, match="timed out after 1s") as caught:
        transport.run(posix(*_sleeper(marker)), timeout=1)
    assert 1 <= time.monotonic() - started < 4
    assert not caught.value.transient
    assert _wait_gone(linux_host, marker), "the remote command survived its timeout"
    assert transport.run(posix("true")).ok, "the connection stays usable"


def test_timeout_also_ends_the_commands_children(linux_host: TestHost, ssh_connect: Connect) -> None:
    marker = _marker()
    script = 'bash -c \'exec -a "$0" sleep 60\' "$1" & bash -c \'exec -a "$0" sleep 60\' "$1"-b & wait'
    with pytest.raises(CommandTimeoutError):
        ssh_connect(linux_host).run(shell(script, marker), timeout=1)
    assert _wait_gone(linux_host, marker)


def test_a_command_that_ignores_term_is_killed(
    linux_host: TestHost, ssh_connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssh, "KILL_AFTER", 1.0)
    marker = _marker()
    stubborn = "trap '' TERM; while :; do sleep 0.1; done"
    with pytest.raises(CommandTimeoutError):
        ssh_connect(linux_host).run(posix("sh", "-c", stubborn, marker), timeout=1)
    assert _wait_gone(linux_host, marker)


def test_dropped_connection_mid_command_is_lost_then_reconnects(
    linux_host: TestHost, ssh_connect: Connect, ssh_log: RecordingLog
) -> None:
    transport = ssh_connect(linux_host)
    killer = threading.Timer(0.5, linux_host.drop_connections)
    killer.start()
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionLostError, match="outcome on the host is unknown") as caught:
            transport.run(posix(*_sleeper(_marker(), 30)))
    finally:
        killer.cancel()
    assert time.monotonic() - started < 5
    assert caught.value.transient and caught.value.unreachable
    assert transport.run(posix("hostname")).stdout.strip() == linux_host.name
    assert "reconnecting" in ssh_log.text


def test_stopped_host_is_unreachable(linux_host: TestHost, ssh_connect: Connect) -> None:
    transport = ssh_connect(linux_host)
    linux_host.stop()
    with pytest.raises(UnreachableError) as caught:
        transport.run(posix("true"))
    assert caught.value.transient
    with pytest.raises(UnreachableError, match="refused"):
        ssh_connect(linux_host)


def test_silent_host_times_out_as_unreachable(linux_host: TestHost, ssh_connect: Connect) -> None:
    with linux_host.partitioned(), pytest.raises(UnreachableError, match="timed out after 1s"):
        ssh_connect(linux_host, connect_timeout=1)
    assert ssh_connect(linux_host).run(posix("true")).ok


def test_unknown_name_is_unreachable(linux_host: TestHost) -> None:
    from hybridctl.transport.hostkeys import KnownHosts

    host = linux_host.inventory_host().model_copy(update={"address": "no-such-host.invalid"})
    with pytest.raises(UnreachableError, match="cannot resolve"):
        SSHTransport.connect(host, known_hosts=KnownHosts(linux_host.known_hosts, user_file=None))


def test_secrets_in_output_are_masked_in_the_log(
    linux_host: TestHost, ssh_connect: Connect, ssh_log: RecordingLog
) -> None:
    alice = linux_host.users["alice"]
    transport = ssh_connect(linux_host, "alice", private_key_file=None, password=alice.password)
    result = transport.run(posix("echo", alice.password))
    assert result.stdout == alice.password + "\n", "callers get the real output"
    assert alice.password not in result.command
    assert alice.password not in ssh_log.text
    assert "***" in ssh_log.text
