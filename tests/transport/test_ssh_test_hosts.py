"""The Linux test hosts themselves: isolation from the build machine, unique slots, complete cleanup.

Tier: ssh contract (test infrastructure). Real: network, mount, UTS and PID namespaces, overlayfs, veths
and a bridge, sshd, useradd and sudoers inside each host. Simulated: nothing.
"""

from __future__ import annotations

import ipaddress
import pwd
import subprocess
from pathlib import Path

import pytest

from tests.support import linux_hosts
from tests.support.linux_hosts import LinuxTestHosts, TestHost


def _links_and_namespaces(lab: LinuxTestHosts | None = None) -> str:
    """Links and namespaces on the machine; only ``lab``'s when given (other sessions may run meanwhile)."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    lines = (links + spaces).splitlines()
    tag = f"{lab.prefix}{lab.slot}" if lab else ""
    return "\n".join(line for line in lines if tag in line)


def test_users_and_writes_stay_inside_the_host(linux_host: TestHost) -> None:
    assert linux_host.exec("id", "-u", "alice").stdout.strip().isdigit()
    with pytest.raises(KeyError):
        pwd.getpwnam("alice")  # useradd ran in the host's private /etc only
    assert linux_host.exec("hostname").stdout.strip() == linux_host.name
    assert linux_host.exec("touch", "/etc/only-in-host").returncode == 0
    assert not Path("/etc/only-in-host").exists()
    refused = linux_host.exec("touch", "/usr/share/not-allowed", check=False)
    assert "Read-only file system" in refused.stderr


def test_the_host_runs_sshd_as_its_pid_1(linux_host: TestHost) -> None:
    processes = linux_host.exec("ps", "-o", "pid=,comm=", "-p", "1").stdout.split()
    assert processes == ["1", "sshd"]


def test_two_labs_get_separate_slots_and_clean_up_only_their_own(
    linux_lab: LinuxTestHosts, tmp_path: Path
) -> None:
    with LinuxTestHosts(2, tmp_path / "second") as other:
        assert other.bridge != linux_lab.bridge
        assert other.subnet != linux_lab.subnet
        first, second = other.hosts
        assert ipaddress.ip_address(first.address) in ipaddress.ip_network(other.subnet)
        init_pids = [first.init_pid, second.init_pid]
        # hosts of a lab reach each other over its bridge
        probe = 'exec 3<>"/dev/tcp/$0/22"; head -c 7 <&3'
        assert first.exec("bash", "-c", probe, second.address).stdout == "SSH-2.0"
        names = [other.bridge, first.veth, first.netns, second.veth, second.netns]
    remaining = _links_and_namespaces()
    assert not [name for name in names if name in remaining]
    assert linux_lab.bridge in remaining, "the session's lab is untouched"
    assert all(pid is not None and not Path(f"/proc/{pid}").exists() for pid in init_pids)


def test_a_host_that_fails_to_start_is_cleaned_up(
    linux_lab: LinuxTestHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken-init.sh"
    broken.write_text("echo 'simulated init failure' >&2\nexit 3\n")
    monkeypatch.setattr(linux_hosts, "INIT_SCRIPT", broken)
    before = _links_and_namespaces(linux_lab)
    with pytest.raises(RuntimeError, match="simulated init failure"):
        linux_lab.add(2)
    assert _links_and_namespaces(linux_lab) == before


def test_stop_and_partition_helpers(linux_host: TestHost) -> None:
    with linux_host.partitioned():
        assert (
            "state DOWN"
            in subprocess.run(
                ["ip", "link", "show", linux_host.veth], capture_output=True, text=True, check=True
            ).stdout
        )
    pid = linux_host.init_pid
    linux_host.stop()
    assert linux_host.init_pid is None
    assert pid is not None and not Path(f"/proc/{pid}").exists()
