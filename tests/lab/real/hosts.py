"""Real Linux test hosts: Debian 12 booted by systemd-nspawn, systemd as PID 1, real sshd, apt, units.

A host is a network namespace (same addressing, slot lock and bridge as ``tests/support/linux_hosts.py``:
10.231.S.N on bridge ``<prefix>b<S>``) in which ``systemd-nspawn --boot`` starts the Debian root from
``rootfs.py``. Each host has:

- its own root: an overlay whose lower layer is the cached, unpacked Debian root (read-only, shared) and
  whose upper layer is the host's state directory, so hosts never share a writable file;
- its own "disk": a tmpfs (``DISK_SIZE``) whose ``containerd`` and ``kubelet`` directories are bound to
  ``/var/lib/containerd`` and ``/var/lib/kubelet``. containerd's overlay snapshotter cannot put an overlay's
  upper directory on the overlay root, and the kubelet judges DiskPressure by the free space of those two
  file systems (its imagefs and nodefs): on this machine's shared, mostly full disk (88% used when this
  was written) the kubelet's default ``imagefs.available<15%`` threshold tainted every node
  ``node.kubernetes.io/disk-pressure``, so no pod but the static ones was ever scheduled. A node of its
  own size, like a real node's disk, keeps the kubelet's default thresholds meaningful;
- its own cgroup subtree ``<controller>/hybridctl-lab/<host>`` in every hierarchy: nspawn is started inside
  it and gives the host a cgroup namespace rooted there, so each host's systemd sees a private tree (the
  way kind gives each node a private cgroup namespace). nspawn mounts the v1 controllers read-only; the
  root's ``lab-cgroups-rw.service`` (a lab unit, the counterpart of kind's node entrypoint) remounts them
  writable so that runc can create containers inside the host;
- ``SYSTEMD_SECCOMP=0`` and ``--capability=all``: nspawn's default seccomp filter refuses ``keyctl`` that
  runc needs, and its capability bounding set drops what containerd and the kubelet use;
- ``/dev/kmsg`` bound in and ``/proc/sys``, ``/sys`` writable (``SYSTEMD_NSPAWN_API_VFS_WRITABLE=1``): the
  kubelet refuses to start without ``/dev/kmsg`` ("failed to create kubelet: open /dev/kmsg: no such file
  or directory"), and it and kube-proxy set sysctls; kind's nodes get the same;
- its own ed25519 host key, root login by key; a ``known_hosts`` file lists every host.

Teardown (also after a failure): TERM nspawn (orderly poweroff), KILL the host's PID 1 by its recorded pid if
it is still there, then remove the cgroups, unmount the overlay and bind, delete the veth and namespace.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from hybridctl.inventory.models import Host, SSHConnection
from tests.lab.real import rootfs
from tests.support.linux_hosts import (
    SSH_PORT,
    ClientKeys,
    _Addressing,
    _claim_slot,
    _client_keys,
    _host_key,
    _ip_batch,
    _write_private,
)

CGROUP = Path("/sys/fs/cgroup")
CGROUP_PARENT = "hybridctl-lab"
LAB_LAYER = "2"  # bump when _install_lab_units changes what it writes
BOOT_TIMEOUT = 120.0
DISK_SIZE = "4g"  # tmpfs: only what is written uses memory (about 0.6 GB with the lab's images)
DISK_BINDS = {"containerd": "/var/lib/containerd", "kubelet": "/var/lib/kubelet"}
STOP_TIMEOUT = 20.0
REQUIRED_TOOLS = {
    "systemd-nspawn": "apt-get install -y systemd-container",
    "debootstrap": "apt-get install -y debootstrap",
    "ip": "apt-get install -y iproute2",
    "nsenter": "apt-get install -y util-linux",
}
CGROUPS_RW_UNIT = """\
[Unit]
Description=hybridctl lab: make this host's cgroup controllers writable (nspawn mounts them read-only)
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for m in /sys/fs/cgroup /sys/fs/cgroup/*; do mount -o remount,bind,rw "$m"; done'

[Install]
WantedBy=sysinit.target
"""
SSHD_DROP_IN = """\
# hybridctl lab host: root logs in with the lab's key only; many parallel sessions.
PermitRootLogin prohibit-password
PasswordAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
MaxStartups 1000:30:2000
MaxSessions 500
UseDNS no
"""


@dataclass
class SystemdHost:
    """One booted host: systemd is PID 1 of its own PID namespace, sshd listens on ``address``:22."""

    name: str
    address: str
    veth: str
    state_dir: Path
    keys: ClientKeys
    host_key: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    leader: int | None = None
    mounts: list[Path] = field(default_factory=list)

    @property
    def netns(self) -> str:
        """The network namespace (same as the host name)."""
        return self.name

    @property
    def disk(self) -> Path:
        """The host's own file system for containerd's and the kubelet's state (a tmpfs)."""
        return self.state_dir / "disk"

    @property
    def root(self) -> Path:
        """Where the host's root file system is mounted on this machine."""
        return self.state_dir / "root"

    def known_hosts_line(self) -> str:
        """An OpenSSH known_hosts line for this host."""
        return f"{self.address} {self.host_key}\n"

    def exec(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the host (all of its namespaces) as root, bypassing SSH."""
        if self.leader is None:
            raise RuntimeError(f"{self.name}: host is not running")
        enter = ("nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w", "--")
        return subprocess.run((*enter, *argv), check=check, capture_output=True, text=True, timeout=timeout)

    def inventory_host(self, role: str = "control-plane") -> Host:
        """An inventory Host for this machine: root, key login."""
        connection = SSHConnection.model_validate({"user": "root", "private_key_file": str(self.keys.key)})
        return Host.model_validate(
            {"name": self.name, "address": self.address, "role": role, "os": "linux", "ssh": connection}
        )


class SystemdHosts:
    """A lab of systemd hosts on one bridge; a context manager that removes all it created on exit."""

    def __init__(self, workdir: Path, *, prefix: str = "rl") -> None:
        self.workdir = workdir
        self.prefix = prefix
        self.hosts: list[SystemdHost] = []
        self._addressing: _Addressing | None = None
        self._keys: ClientKeys | None = None
        self._next_index = 1

    def __enter__(self) -> SystemdHosts:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def keys(self) -> ClientKeys:
        """The client key root logs in with on every host."""
        if self._keys is None:
            raise RuntimeError("the lab is not started")
        return self._keys

    @property
    def known_hosts(self) -> Path:
        """An OpenSSH known_hosts file for every running host."""
        return self.workdir / "known_hosts"

    @property
    def addressing(self) -> _Addressing:
        """The lab's slot: bridge name, gateway, host addresses."""
        if self._addressing is None:
            raise RuntimeError("the lab is not started")
        return self._addressing

    def start(self) -> None:
        """Claim a slot and create the bridge and client keys."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._keys = _client_keys(self.workdir / "client")
        self._addressing = _claim_slot(self.prefix)

    def add(self, count: int = 1) -> list[SystemdHost]:
        """Boot ``count`` more hosts and wait until each one's sshd listens."""
        base = unpacked_root()
        new = [self._prepare(self._take_index()) for _ in range(count)]
        self.hosts.extend(new)
        try:
            for host in new:
                _mount_root(host, base)
                _write_host_files(host)
                _ip_batch(_link_commands(host, self.addressing), force=False)
                _configure_eth0(host, self.addressing)
                _boot(host)
            for host in new:
                _wait_listening(host, SSH_PORT)
        except BaseException:
            self.remove(new)
            raise
        self._write_known_hosts()
        return new

    def remove(self, hosts: Sequence[SystemdHost]) -> None:
        """Shut ``hosts`` down and remove everything they used (idempotent; tolerates half-made hosts)."""
        for host in hosts:
            _shutdown(host)
        for host in hosts:
            _kill_leftovers(host)
            _remove_cgroups(host)
            _unmount(host)
            shutil.rmtree(host.state_dir, ignore_errors=True)
            shutil.rmtree(Path("/run/systemd/nspawn/propagate") / host.name, ignore_errors=True)
        _ip_batch((f"link del {h.veth}", f"netns del {h.netns}") for h in hosts)
        self.hosts = [h for h in self.hosts if h not in hosts]
        self._write_known_hosts()

    def close(self) -> None:
        """Remove every host, then the bridge."""
        self.remove(list(self.hosts))
        if self._addressing is not None:
            _ip_batch([f"link del {self._addressing.bridge}"])
            self._addressing = None
        for hierarchy in CGROUP.iterdir():
            with contextlib.suppress(OSError):
                (hierarchy / CGROUP_PARENT).rmdir()  # only when no other lab uses it

    def _take_index(self) -> int:
        index = self._next_index
        self._next_index += 1
        return index

    def _prepare(self, index: int) -> SystemdHost:
        name, address, veth = self.addressing.host(index)
        state = self.workdir / name
        state.mkdir(parents=True, exist_ok=True)
        return SystemdHost(name, address, veth, state, self.keys)

    def _write_known_hosts(self) -> None:
        if self.workdir.exists():
            _write_private(self.known_hosts, "".join(h.known_hosts_line() for h in self.hosts))


def unpacked_root() -> Path:
    """The cached Debian root, unpacked once (read-only lower layer of every host's overlay)."""
    tarball = rootfs.build()
    layer = hashlib.sha256(f"{LAB_LAYER} {CGROUPS_RW_UNIT} {SSHD_DROP_IN}".encode()).hexdigest()[:8]
    target = tarball.with_suffix(f".root-{layer}")
    with _file_lock(tarball.with_suffix(".lock")):
        if not (target / "etc/os-release").exists():
            partial = tarball.with_suffix(".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            with tarfile.open(tarball) as archive:
                archive.extractall(partial, filter="fully_trusted")
            _install_lab_units(partial)
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
    return target


def _install_lab_units(root: Path) -> None:
    units = root / "etc/systemd/system"
    (units / "lab-cgroups-rw.service").write_text(CGROUPS_RW_UNIT)
    wants = units / "sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "lab-cgroups-rw.service").symlink_to("../lab-cgroups-rw.service")
    (root / "etc/ssh/sshd_config.d/hybridctl-lab.conf").write_text(SSHD_DROP_IN)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # Nothing may start a getty on the console nspawn hands over read-only.
    (units / "console-getty.service").symlink_to("/dev/null")
    # Air-gapped like the hosts of an offline install: apt knows only the sources hybridctl adds.
    (root / "etc/apt/sources.list").write_text("")
    for source in (root / "etc/apt/sources.list.d").glob("*"):
        source.unlink()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _mount_root(host: SystemdHost, base: Path) -> None:
    upper, work = host.state_dir / "upper", host.state_dir / "work"
    for directory in (upper, work, host.disk, host.root):
        directory.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={base},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(host.root)], check=True)
    host.mounts.append(host.root)
    tmpfs = ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0755", "lab-disk", str(host.disk)]
    subprocess.run(tmpfs, check=True)
    host.mounts.append(host.disk)
    for directory in DISK_BINDS:
        (host.disk / directory).mkdir()


def _write_host_files(host: SystemdHost) -> None:
    root = host.root
    private, host.host_key = _host_key()
    _write_private(root / "etc/ssh/ssh_host_ed25519_key", private)
    (root / "etc/ssh/ssh_host_ed25519_key.pub").write_text(host.host_key + "\n")
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    _write_private(root / "root/.ssh/authorized_keys", host.keys.public + "\n")
    (root / "etc/hostname").write_text(host.name + "\n")
    (root / "etc/hosts").write_text(f"127.0.0.1 localhost\n{host.address} {host.name}\n")
    (root / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")


def _link_commands(host: SystemdHost, addressing: _Addressing) -> list[str]:
    ns = host.netns
    return [
        f"netns add {ns}",
        f"link add {host.veth} type veth peer name eth0 netns {ns}",
        f"link set {host.veth} master {addressing.bridge} up",
    ]


def _configure_eth0(host: SystemdHost, addressing: _Addressing) -> None:
    """Address and route inside the namespace, set from outside (the host runs no network manager)."""
    lines = [
        "link set lo up",
        f"addr add {host.address}/24 dev eth0",
        "link set eth0 up",
        f"route add default via {addressing.gateway}",
    ]
    argv = ["ip", "-n", host.netns, "-batch", "-"]
    subprocess.run(argv, input="\n".join(lines) + "\n", check=True, capture_output=True, text=True)


def _cgroup_dirs(host: SystemdHost) -> list[Path]:
    """The host's cgroup in every hierarchy mounted under /sys/fs/cgroup."""
    return [h / CGROUP_PARENT / host.name for h in sorted(CGROUP.iterdir()) if (h / "cgroup.procs").exists()]


def _boot(host: SystemdHost) -> None:
    """Start nspawn inside the host's own cgroups (a shell moves itself there, then execs nspawn)."""
    enter = " ".join(f"{d}" for d in _cgroup_dirs(host))
    script = (
        'for d in $CGROUPS; do mkdir -p "$d"; p=$(dirname "$d"); '
        'if [ -f "$p/../cpuset.cpus" ]; then cat "$p/../cpuset.cpus" > "$p/cpuset.cpus"; '
        'cat "$p/../cpuset.mems" > "$p/cpuset.mems"; cat "$p/cpuset.cpus" > "$d/cpuset.cpus"; '
        'cat "$p/cpuset.mems" > "$d/cpuset.mems"; fi; echo $$ > "$d/cgroup.procs"; done; exec "$@"'
    )
    argv = [
        "systemd-nspawn",
        "--quiet",
        f"--directory={host.root}",
        f"--machine={host.name}",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path=/run/netns/{host.netns}",
        "--capability=all",
        "--console=read-only",
        "--link-journal=no",
        "--resolv-conf=off",
        *(f"--bind={host.disk / name}:{target}" for name, target in DISK_BINDS.items()),
        "--bind=/dev/kmsg",  # the kubelet's OOM watcher opens it (kind gives its nodes one too)
    ]
    # /proc/sys and /sys writable: the kubelet and kube-proxy set sysctls, as on a machine.
    env = {**os.environ, "SYSTEMD_SECCOMP": "0", "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1", "CGROUPS": enter}
    with (host.state_dir / "console.log").open("wb") as log:
        host.process = subprocess.Popen(
            ["sh", "-c", script, "boot", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _wait_listening(host: SystemdHost, port: int) -> None:
    """Wait for the host's PID 1 to appear and for something in its namespace to listen on ``port``."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    listening = f":{port:04X} 00000000:0000 0A "
    while time.monotonic() < deadline:
        if host.process is None or host.process.poll() is not None:
            log = (host.state_dir / "console.log").read_text(errors="replace")
            raise RuntimeError(f"host {host.name} did not boot:\n{log[-3000:]}")
        host.leader = host.leader or _leader(host.process.pid)
        with contextlib.suppress(OSError):
            if host.leader and listening in Path(f"/proc/{host.leader}/net/tcp").read_text():
                return
        time.sleep(0.2)
    raise RuntimeError(f"host {host.name}: sshd not listening after {BOOT_TIMEOUT:g}s")


def _leader(nspawn_pid: int) -> int | None:
    """The container's PID 1 (nspawn's child whose name is systemd)."""
    for child in _children(nspawn_pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                return child
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(w) for w in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _shutdown(host: SystemdHost) -> None:
    """TERM nspawn (it asks systemd to power off), wait, then KILL the host's PID 1 and nspawn."""
    process = host.process
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
    if process.poll() is None:
        if host.leader:
            with contextlib.suppress(ProcessLookupError):
                os.kill(host.leader, signal.SIGKILL)  # the kernel then kills its whole PID namespace
        process.kill()
        process.wait()
    host.process = None


def _kill_leftovers(host: SystemdHost) -> None:
    """KILL whatever still sits in the host's cgroups (only processes the host started)."""
    for directory in _cgroup_dirs(host):
        for procs in directory.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)


def _remove_cgroups(host: SystemdHost) -> None:
    for directory in _cgroup_dirs(host):
        if directory.exists():
            for sub in sorted((p for p in directory.rglob("*") if p.is_dir()), reverse=True):
                _rmdir_retrying(sub)
            _rmdir_retrying(directory)


def _rmdir_retrying(path: Path) -> None:
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


def _unmount(host: SystemdHost) -> None:
    for mount in reversed(host.mounts):
        subprocess.run(["umount", "--lazy", str(mount)], check=False, capture_output=True)
    host.mounts.clear()
