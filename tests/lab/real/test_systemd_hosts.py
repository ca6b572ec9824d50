"""Tier: lab, real Kubernetes (its Linux hosts). Nothing here is emulated.

Real: debootstrap'd Debian 12 booted by systemd-nspawn with systemd as PID 1 in each host's own PID, mount,
network and cgroup namespaces; OpenSSH's sshd started by its real unit; hybridctl's SSH transport (paramiko)
with strict host key checking; the ``hybridctl ping`` CLI; cgroup v1 controllers of this kernel.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hybridctl.commands import posix
from hybridctl.masking import Masker
from hybridctl.transport.hostkeys import KnownHosts
from hybridctl.transport.ssh import SSHTransport
from tests.lab.real.fixtures import SystemdHostFactory
from tests.lab.real.hosts import CGROUP_PARENT, SystemdHost
from tests.support.hosts_fixtures import RecordingLog
from tests.support.inventory import write_inventory

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]


def _ssh(host: SystemdHost, known_hosts: Path) -> SSHTransport:
    transport = SSHTransport(
        host.inventory_host(),
        known_hosts=KnownHosts(known_hosts, user_file=None),
        log=RecordingLog(),
        masker=Masker(),
        connect_timeout=10.0,
    )
    transport.open()
    return transport


def test_hosts_boot_systemd_and_answer_hybridctl_over_ssh(
    systemd_hosts: SystemdHostFactory, tmp_path: Path
) -> None:
    """Two hosts boot to a running systemd; hybridctl's SSH transport sees systemd as PID 1 and sshd."""
    hosts = systemd_hosts(2)
    known = tmp_path / "known_hosts"
    known.write_text("".join(h.known_hosts_line() for h in hosts))
    for host in hosts:
        transport = _ssh(host, known)
        try:
            state = transport.run(posix("systemctl", "is-system-running", "--wait"), timeout=120)
            failed = transport.run(posix("systemctl", "--failed", "--no-legend", "--plain")).stdout
            assert state.stdout.strip() == "running", failed
            assert transport.run(posix("cat", "/proc/1/comm")).stdout.strip() == "systemd"
            assert transport.run(posix("systemctl", "is-active", "ssh.service")).stdout.strip() == "active"
            assert transport.run(posix("hostname")).stdout.strip() == host.name
        finally:
            transport.close()


def test_each_host_has_a_private_writable_cgroup_tree(systemd_hosts: SystemdHostFactory) -> None:
    """Each host's systemd builds its slices under its own subtree, and can create cgroups (as runc will)."""
    first, second = systemd_hosts(2)
    for host in (first, second):
        assert host.exec("systemctl", "is-system-running", "--wait").stdout.strip() == "running"
        host.exec("mkdir", "/sys/fs/cgroup/memory/lab-probe")
        mine = Path("/sys/fs/cgroup/memory", CGROUP_PARENT, host.name)
        assert (mine / "lab-probe").is_dir()
        units = Path("/sys/fs/cgroup/systemd", CGROUP_PARENT, host.name)
        assert any(units.rglob("system.slice/ssh.service")), "the host's sshd unit is not in its own subtree"
        host.exec("rmdir", "/sys/fs/cgroup/memory/lab-probe")
    assert not Path("/sys/fs/cgroup/memory/system.slice/ssh.service").exists()


def test_hosts_give_the_kubelet_what_it_opens_and_writes(systemd_hosts: SystemdHostFactory) -> None:
    """/dev/kmsg exists (the kubelet refuses to start without it) and per-namespace sysctls are writable."""
    (host,) = systemd_hosts(1)
    assert host.exec("test", "-c", "/dev/kmsg", check=False).returncode == 0
    host.exec("sysctl", "-w", "net.ipv4.ip_forward=1")  # the host's own network namespace only
    assert host.exec("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"


def test_hybridctl_ping_reaches_systemd_hosts(systemd_hosts: SystemdHostFactory, tmp_path: Path) -> None:
    """The real CLI's ``ping`` connects to the hosts with strict host key checking and reports them up."""
    hosts = systemd_hosts(1)
    entries = [{**_entry(h), "role": "control-plane"} for h in hosts]
    inventory = write_inventory(tmp_path / "cluster.yaml", entries, name="real")
    state = tmp_path / ".hybridctl" / "real"
    state.mkdir(parents=True)
    (state / "known_hosts").write_text("".join(h.known_hosts_line() for h in hosts))
    done = subprocess.run(
        [sys.executable, "-m", "hybridctl", "ping", "-i", str(inventory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert hosts[0].name in done.stdout


def _entry(host: SystemdHost) -> dict[str, object]:
    return {
        "name": host.name,
        "address": host.address,
        "os": "linux",
        "ssh": {"user": "root", "privateKeyFile": str(host.keys.key)},
    }
