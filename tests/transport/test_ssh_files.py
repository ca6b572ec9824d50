"""File transfer over SSH: SFTP upload to a temporary name, sha256 check on the host, atomic rename; get.

Tier: ssh contract. Real: OpenSSH sshd and its SFTP server on Linux test hosts in network namespaces,
``sha256sum``/``install``/``mv`` on the host, sudo for non-root users. Simulated: nothing.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from hybridctl.transport.base import TransportError
from tests.support.hosts_fixtures import Connect, RecordingLog
from tests.support.linux_hosts import TestHost

ODD_NAMES = ["with space.txt", 'quote\'s "double" $(x) `y`.txt', "ünïcødé ✓ 日本.txt", "-leading-dash"]


def _stat(host: TestHost, path: str) -> str:
    return host.exec("stat", "-c", "%U %a %s", "--", path).stdout.strip()


def _leftovers(host: TestHost, directory: str) -> list[str]:
    names = host.exec("ls", "-A", "--", directory).stdout.split("\n")
    return [name for name in names if "hybridctl" in name]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_put_and_get_odd_names(linux_host: TestHost, ssh_connect: Connect, name: str) -> None:
    transport = ssh_connect(linux_host)
    data = os.urandom(1000)
    path = f"/etc/hybrid test/{name}"
    linux_host.exec("mkdir", "-p", "/etc/hybrid test")
    result = transport.put(data, path, 0o640)
    assert (result.size, result.sha256) == (1000, hashlib.sha256(data).hexdigest())
    assert transport.get(path) == data
    assert _stat(linux_host, path) == "root 640 1000"
    assert _leftovers(linux_host, "/etc/hybrid test") == []


def test_put_replaces_atomically_and_logs(
    linux_host: TestHost, ssh_connect: Connect, ssh_log: RecordingLog
) -> None:
    transport = ssh_connect(linux_host)
    transport.put(b"old and longer", "/root/config.yaml")
    inode = linux_host.exec("stat", "-c", "%i", "/root/config.yaml").stdout
    transport.put(b"new", "/root/config.yaml", 0o600)
    assert transport.get("/root/config.yaml") == b"new"
    # a rename, not a rewrite in place: readers never see a half-written file
    assert linux_host.exec("stat", "-c", "%i", "/root/config.yaml").stdout != inode
    assert f"put /root/config.yaml (3 bytes, sha256 {hashlib.sha256(b'new').hexdigest()}" in ssh_log.text


def test_large_file_is_streamed_and_verified(
    linux_host: TestHost, ssh_connect: Connect, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as stream:
        for _ in range(50):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            stream.write(block)
    transport = ssh_connect(linux_host)
    tracemalloc.start()
    try:
        result = transport.put(source, "/var/tmp/big.bin", 0o600)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.size, result.sha256) == (50 * 1024 * 1024, digest.hexdigest())
    assert peak < 16 * 1024 * 1024, f"upload held {peak} bytes at once: it must stream"
    remote = linux_host.exec("sha256sum", "/var/tmp/big.bin").stdout.split()[0]
    assert remote == digest.hexdigest()


def test_sudo_user_puts_root_owned_files(linux_host: TestHost, ssh_connect: Connect) -> None:
    transport = ssh_connect(linux_host, "alice")
    transport.put(b"secret: yes\n", "/etc/kubernetes-test.conf", 0o600)
    assert _stat(linux_host, "/etc/kubernetes-test.conf") == "root 600 12"
    assert transport.get("/etc/kubernetes-test.conf") == b"secret: yes\n"
    assert _leftovers(linux_host, "/home/alice") == [], "the staging copy is removed"
    assert _leftovers(linux_host, "/etc") == []


def test_sudo_user_reads_root_only_files(linux_host: TestHost, ssh_connect: Connect) -> None:
    assert ssh_connect(linux_host, "alice").get("/etc/shadow").startswith(b"root:")


@pytest.mark.parametrize("user", ["root", "alice"])
def test_get_of_missing_file_is_file_not_found(linux_host: TestHost, ssh_connect: Connect, user: str) -> None:
    with pytest.raises(FileNotFoundError):
        ssh_connect(linux_host, user).get("/etc/does-not-exist")


@pytest.mark.parametrize("user", ["root", "alice"])
def test_put_into_missing_directory_fails_cleanly(
    linux_host: TestHost, ssh_connect: Connect, user: str
) -> None:
    transport = ssh_connect(linux_host, user)
    with pytest.raises(TransportError, match="/no/such/dir/file"):
        transport.put(b"data", "/no/such/dir/file")
    assert _leftovers(linux_host, "/home/alice") == []


def test_put_onto_a_directory_does_not_move_into_it(linux_host: TestHost, ssh_connect: Connect) -> None:
    linux_host.exec("mkdir", "/etc/a-directory")
    with pytest.raises(TransportError, match="cannot install /etc/a-directory"):
        ssh_connect(linux_host).put(b"data", "/etc/a-directory")
    assert linux_host.exec("ls", "-A", "/etc/a-directory").stdout == ""
    assert _leftovers(linux_host, "/etc") == []
