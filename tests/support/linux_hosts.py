"""Linux test hosts: real OpenSSH servers in their own network, mount, UTS and PID namespaces (root only).

Used by the ssh contract tests (fixtures in ``hosts_fixtures.py``) and by benchmark scripts::

    with LinuxTestHosts(10, Path("/tmp/bench-hosts")) as lab:
        for host in lab.hosts:
            print(host.name, host.address, host.keys.key)

Each lab claims a free slot S of 10.231.0.0/16 under a machine-wide lock: a bridge ``<prefix>b<S>`` with
10.231.S.1/24 in the root namespace, and hosts 10.231.S.2 .. 10.231.S.254 named ``<prefix><S>-<N>``. Two labs
(a pytest session and a benchmark, or two pytest sessions) never share a slot, and each removes only what it
created, by recorded process id and recorded link and namespace names.

A host is a network namespace with a veth ``eth0`` on the bridge, plus mount, UTS and PID namespaces whose
PID 1 is the host's own sshd (``host-init.sh`` beside this file builds the private file system first).
Every host has its own ed25519 host key, root login by key, and two users: ``alice`` (passwordless sudo,
key or password login) and ``bob`` (sudo asks for a password, key login). sshd also listens on port 2222,
so ``[address]:port`` known_hosts entries are exercised too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hybridctl.inventory.models import Host, SSHConnection

NETWORK = ipaddress.IPv4Network("10.231.0.0/16")
SLOTS = range(10, 255)  # 10.231.0-9.x stay free for hand-made setups such as the reference hosts.sh
MAX_HOSTS_PER_LAB = 253
SSH_PORT = 22
ALT_SSH_PORT = 2222
LOCK_FILE = Path("/run/lock/hybridctl-test-hosts.lock")
INIT_SCRIPT = Path(__file__).with_name("host-init.sh")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
REQUIRED_TOOLS = {
    "ip": "apt-get install -y iproute2",
    "unshare": "apt-get install -y util-linux",
    "nsenter": "apt-get install -y util-linux",
    "sshd": "apt-get install -y openssh-server",
    "sudo": "apt-get install -y sudo",
    "openssl": "apt-get install -y openssl",
}

SudoMode = Literal["nopasswd", "password"]
_LAB_NAME = re.compile(r"[a-z]{1,6}(?:b(\d{2,3})|(\d{2,3})[-v]\d+)")


@dataclass(frozen=True)
class TestUser:
    """A login on every test host besides root."""

    __test__ = False  # not a pytest test class

    name: str
    password: str = field(repr=False)
    sudo: SudoMode
    password_login: bool


@dataclass(frozen=True)
class ClientKeys:
    """The client side keys every user on every host of a lab accepts."""

    key: Path
    encrypted_key: Path
    passphrase: str = field(repr=False)
    public: str


@dataclass(frozen=True)
class _Addressing:
    """Where a lab lives in 10.231.0.0/16."""

    prefix: str
    slot: int

    @property
    def bridge(self) -> str:
        return f"{self.prefix}b{self.slot}"

    @property
    def gateway(self) -> str:
        return f"10.231.{self.slot}.1"

    def host(self, index: int) -> tuple[str, str, str]:
        """Name, address and root-side veth name of host ``index`` (1-based)."""
        return (
            f"{self.prefix}{self.slot}-{index}",
            f"10.231.{self.slot}.{index + 1}",
            f"{self.prefix}{self.slot}v{index}",
        )


@dataclass
class TestHost:
    """One running test host: a real sshd at ``address``:22 (and :2222) in its own namespaces."""

    __test__ = False  # not a pytest test class

    name: str
    address: str
    veth: str
    state_dir: Path
    keys: ClientKeys
    users: Mapping[str, TestUser]
    host_key: str
    known_hosts: Path
    port: int = SSH_PORT
    alt_port: int = ALT_SSH_PORT
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def netns(self) -> str:
        """The network namespace (same as the host name)."""
        return self.name

    @property
    def root_key(self) -> Path:
        """The private key root (and every user) logs in with."""
        return self.keys.key

    @property
    def init_pid(self) -> int | None:
        """The root-namespace pid of the host's PID 1 (its sshd), None when it is not running."""
        if self.process is None or self.process.poll() is not None:
            return None
        children = _children(self.process.pid)
        return children[0] if children else None

    def known_hosts_line(self, port: int = SSH_PORT) -> str:
        """An OpenSSH known_hosts line for this host on ``port``."""
        name = self.address if port == SSH_PORT else f"[{self.address}]:{port}"
        return f"{name} {self.host_key}\n"

    def exec(
        self, *argv: str, check: bool = True, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the host (all of its namespaces), as root, bypassing SSH."""
        pid = self._require_init()
        enter = ("nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "-r", "-w", "--")
        return subprocess.run(
            (*enter, *argv), check=check, input=input, capture_output=True, text=True, timeout=timeout
        )

    def processes(self) -> list[tuple[int, str]]:
        """(root-namespace pid, command line) of every process in the host's PID namespace."""
        pid = self._require_init()
        return [(p, _cmdline(p)) for p in _processes_in_pid_namespace(pid)]

    def is_running(self, marker: str) -> bool:
        """Whether any process on the host has ``marker`` in its command line."""
        return any(marker in cmdline for _, cmdline in self.processes())

    def ssh_connections(self, port: int = SSH_PORT) -> int:
        """How many TCP connections to sshd on ``port`` are established on the host."""
        out = _run("ip", "netns", "exec", self.netns, "ss", "-Htn", "state", "established")
        return sum(1 for line in out.splitlines() if f"{self.address}:{port} " in line)

    def drop_connections(self) -> int:
        """Kill every SSH session on the host (sshd children and what they run); the listener stays."""
        pid = self._require_init()
        victims = _descendants(pid)
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        return len(victims)

    def set_link(self, up: bool) -> None:
        """Cut (``up=False``) or restore the host's network link; packets are dropped, not refused."""
        _run("ip", "link", "set", self.veth, "up" if up else "down")

    @contextlib.contextmanager
    def partitioned(self) -> Iterator[None]:
        """The host is unreachable (silently, like a pulled cable) inside the ``with`` block."""
        self.set_link(False)
        try:
            yield
        finally:
            self.set_link(True)

    def stop(self) -> None:
        """Shut the host down (its sshd and every process in it); its address then refuses connections."""
        if self.process is None:
            return
        _stop_all([self])

    def inventory_host(self, user: str = "root", **ssh: object) -> Host:
        """An inventory Host for this test host: key login as ``user``, other ssh settings from ``ssh``."""
        settings: dict[str, object] = {"user": user, "private_key_file": str(self.keys.key), **ssh}
        connection = SSHConnection.model_validate(settings)
        return Host(name=self.name, address=self.address, role="worker", os="linux", ssh=connection)

    def _require_init(self) -> int:
        pid = self.init_pid
        if pid is None:
            raise RuntimeError(f"{self.name}: host is not running")
        return pid


class LinuxTestHosts:
    """A lab of Linux test hosts on one bridge; a context manager that removes all it created on exit."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        count: int = 0,
        workdir: Path | None = None,
        *,
        prefix: str = "hct",
        shared_dir: Path | None = None,
    ) -> None:
        if not (prefix.isascii() and prefix.isalpha() and prefix.islower() and 1 <= len(prefix) <= 6):
            raise ValueError("prefix must be 1-6 lowercase ASCII letters")
        self.count = count
        self.prefix = prefix
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="hybridctl-hosts-")) if workdir is None else workdir
        self.hosts: list[TestHost] = []
        self._addressing: _Addressing | None = None
        self._next_index = 1
        self._keys: ClientKeys | None = None
        self.users: dict[str, TestUser] = {}
        self.shared_dir = shared_dir
        """A directory every host sees, writable, at the same path (the lab's simulated cluster state)."""

    def __enter__(self) -> LinuxTestHosts:
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

    def __repr__(self) -> str:
        bridge = self._addressing.bridge if self._addressing else None
        return f"LinuxTestHosts(bridge={bridge!r}, hosts={[h.name for h in self.hosts]!r})"

    @property
    def keys(self) -> ClientKeys:
        """The client keys every user on every host accepts."""
        if self._keys is None:
            raise RuntimeError("the lab is not started")
        return self._keys

    @property
    def known_hosts(self) -> Path:
        """A known_hosts file with every host of the lab, on both ports."""
        return self.workdir / "known_hosts"

    @property
    def slot(self) -> int:
        """The lab's slot S: subnet 10.231.S.0/24, hosts, veths and namespaces named ``<prefix>S...``."""
        return self._require_addressing().slot

    @property
    def subnet(self) -> str:
        """The lab's slot of 10.231.0.0/16, e.g. ``10.231.17.0/24``."""
        return f"10.231.{self.slot}.0/24"

    @property
    def bridge(self) -> str:
        """The lab's bridge in the root namespace."""
        return self._require_addressing().bridge

    @property
    def gateway(self) -> str:
        """The bridge's address, which every host reaches (e.g. a lab artifact server binds here)."""
        return self._require_addressing().gateway

    def start(self) -> None:
        """Claim a slot, create the bridge and keys, and start ``count`` hosts."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._keys = _client_keys(self.workdir / "client")
        self.users = _users()
        self._addressing = _claim_slot(self.prefix)
        self._write_lab_record()
        if self.count:
            self.add(self.count)

    def add(self, count: int = 1) -> list[TestHost]:
        """Start ``count`` more hosts and wait until each one's sshd accepts connections."""
        if self._next_index + count - 1 > MAX_HOSTS_PER_LAB:
            raise ValueError(f"a lab holds at most {MAX_HOSTS_PER_LAB} hosts")
        new = [self._prepare(self._take_index()) for _ in range(count)]
        self.hosts.extend(new)
        try:
            _ip_batch(line for host in new for line in _link_commands(host, self.bridge))
            for host in new:
                _launch(host)
            _wait_ready(new)
        except BaseException:
            self.remove(new)
            raise
        self._write_known_hosts()
        return new

    def remove(self, hosts: Sequence[TestHost]) -> None:
        """Stop ``hosts`` and delete their veths and namespaces (idempotent; tolerates half-made hosts)."""
        _stop_all(hosts)
        _ip_batch((f"link del {h.veth}", f"netns del {h.netns}") for h in hosts)
        self.hosts = [h for h in self.hosts if h not in hosts]
        self._write_known_hosts()

    def close(self) -> None:
        """Remove every host, then the bridge, then (when it made it) the work directory."""
        self.remove(list(self.hosts))
        if self._addressing is not None:
            _ip_batch([f"link del {self._addressing.bridge}"])
            self._addressing = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _take_index(self) -> int:
        index = self._next_index
        self._next_index += 1
        return index

    def _prepare(self, index: int) -> TestHost:
        name, address, veth = self._require_addressing().host(index)
        state = self.workdir / name
        (state / "rw").mkdir(parents=True, exist_ok=True)
        host = TestHost(name, address, veth, state, self.keys, self.users, "", state / "known_hosts")
        host.host_key = _write_host_files(host, self._require_addressing())
        if self.shared_dir is not None:
            self.shared_dir.mkdir(parents=True, exist_ok=True)
            _write_private(state / "shared", f"{self.shared_dir.resolve()}\n")
        host.known_hosts.write_text(host.known_hosts_line() + host.known_hosts_line(ALT_SSH_PORT))
        return host

    def _write_known_hosts(self) -> None:
        if not self.workdir.exists():
            return
        lines = (h.known_hosts_line(port) for h in self.hosts for port in (SSH_PORT, ALT_SSH_PORT))
        _write_private(self.known_hosts, "".join(lines))

    def _write_lab_record(self) -> None:
        record = {"owner_pid": os.getpid(), "bridge": self.bridge, "prefix": self.prefix}
        _write_private(self.workdir / "lab.json", json.dumps(record) + "\n")

    def _require_addressing(self) -> _Addressing:
        if self._addressing is None:
            raise RuntimeError("the lab is not started")
        return self._addressing


# --- keys, users and per-host files -------------------------------------------------------------------


def _client_keys(directory: Path) -> ClientKeys:
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    passphrase = "pass-" + secrets.token_urlsafe(12)
    plain = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    _write_private(directory / "id_ed25519", plain.decode())
    _write_private(directory / "id_ed25519_encrypted", encrypted.decode())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return ClientKeys(
        directory / "id_ed25519", directory / "id_ed25519_encrypted", passphrase, public.decode()
    )


def _users() -> dict[str, TestUser]:
    return {
        "alice": TestUser("alice", "alice-" + secrets.token_urlsafe(12), "nopasswd", password_login=True),
        "bob": TestUser("bob", "bob-" + secrets.token_urlsafe(12), "password", password_login=False),
    }


def _host_key() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private.decode(), public.decode()


def _write_host_files(host: TestHost, addressing: _Addressing) -> str:
    """Write everything host-init.sh reads; returns the host's public key ("ssh-ed25519 AAAA...")."""
    state = host.state_dir
    private, public = _host_key()
    _write_private(state / "ssh_host_ed25519_key", private)
    _write_private(state / "network", f"{host.address}/24 {addressing.gateway}\n")
    _write_private(state / "sshd_config", _sshd_config(host))
    _write_private(state / "authorized_keys", host.keys.public + "\n")
    _write_private(state / "users", "".join(f"{name}\n" for name in host.users))
    _write_private(state / "passwords", _password_lines(host.users.values()))
    _write_private(state / "sudoers", _sudoers(host.users.values()))
    return public


def _sshd_config(host: TestHost) -> str:
    password_users = ",".join(u.name for u in host.users.values() if u.password_login)
    return f"""\
# sshd of hybridctl test host {host.name} (generated by tests/support/linux_hosts.py)
ListenAddress {host.address}:{SSH_PORT}
ListenAddress {host.address}:{ALT_SSH_PORT}
HostKey {host.state_dir}/ssh_host_ed25519_key
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
AllowTcpForwarding yes
MaxStartups 1000:30:2000
MaxSessions 500
Subsystem sftp internal-sftp
Match User {password_users}
    PasswordAuthentication yes
"""


def _password_lines(users: Iterable[TestUser]) -> str:
    return "".join(f"{u.name}:{_crypt(u.password)}\n" for u in users)


def _crypt(password: str) -> str:
    """A SHA-512 crypt(3) hash (computed here, so the plain password never enters the host's files)."""
    return _run("openssl", "passwd", "-6", "-stdin", input=password).strip()


def _sudoers(users: Iterable[TestUser]) -> str:
    rules = {"nopasswd": "ALL=(ALL:ALL) NOPASSWD: ALL", "password": "ALL=(ALL:ALL) ALL"}
    return "".join(f"{u.name} {rules[u.sudo]}\n" for u in users)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


# --- slots, links and processes -------------------------------------------------------------------------


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    """Serialise slot claims of every lab on this machine (pytest sessions, benchmarks)."""
    import fcntl

    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _claim_slot(prefix: str) -> _Addressing:
    """Take the first free slot, creating its bridge while holding the machine-wide lock."""
    with _machine_lock():
        taken = _taken_slots()
        start = os.getpid() % len(SLOTS)
        for slot in (*SLOTS[start:], *SLOTS[:start]):
            if slot not in taken:
                addressing = _Addressing(prefix, slot)
                _create_bridge(addressing)
                return addressing
    raise RuntimeError("no free 10.231.X.0/24 slot for test hosts")


def _taken_slots() -> set[int]:
    """Slots any interface address, /24-or-narrower route, bridge or namespace of a lab already uses."""
    taken: set[int] = set()
    for entry in _ip_json("-4", "addr", "show"):
        taken |= {_slot_of(f"{a['local']}/32") for a in entry.get("addr_info", [])}
    taken |= {_slot_of(r["dst"]) for r in _ip_json("-4", "route", "show", "table", "all")}
    names = [link["ifname"] for link in _ip_json("link", "show")]
    names += [ns["name"] for ns in _ip_json("netns", "list")]
    taken |= {int(digits) for name in names if (digits := _slot_digits(name))}
    return taken - {-1}


def _slot_of(destination: str) -> int:
    """The slot a route or address falls in, or -1 (outside 10.231.0.0/16 or wider than a /24)."""
    with contextlib.suppress(ValueError):
        net = ipaddress.IPv4Network(destination, strict=False)
        if net.prefixlen >= 24 and net.subnet_of(NETWORK):
            return int(net.network_address.packed[2])
    return -1


def _slot_digits(name: str) -> str:
    """The slot number in a lab's link or namespace name (``hctb17``, ``hct17-3``, ``hct17v3``), else ''."""
    match = _LAB_NAME.fullmatch(name)
    return (match.group(1) or match.group(2)) if match else ""


def _create_bridge(addressing: _Addressing) -> None:
    bridge = addressing.bridge
    _ip_batch([f"link add {bridge} type bridge"], force=False)
    try:
        _ip_batch([f"addr add {addressing.gateway}/24 dev {bridge}", f"link set {bridge} up"], force=False)
    except BaseException:
        _ip_batch([f"link del {bridge}"])
        raise


def _link_commands(host: TestHost, bridge: str) -> list[str]:
    return [
        f"netns add {host.netns}",
        f"link add {host.veth} type veth peer name eth0 netns {host.netns}",
        f"link set {host.veth} master {bridge} up",
    ]


def _launch(host: TestHost) -> None:
    """Start the host's init; ``ip netns exec`` execs unshare, so the recorded pid is unshare's."""
    unshare = ("unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc")
    argv = ("ip", "netns", "exec", host.netns, *unshare, "--propagation", "private")
    with (host.state_dir / "init.log").open("wb") as log:
        host.process = subprocess.Popen(
            (*argv, "bash", str(INIT_SCRIPT), host.name, str(host.state_dir)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal must not kill hosts before their finaliser
        )


def _wait_ready(hosts: Sequence[TestHost]) -> None:
    """Wait until every host accepts TCP on port 22; fail with the init log of a host that died."""
    deadline = time.monotonic() + READY_TIMEOUT
    pending = list(hosts)
    while pending:
        for host in pending:
            if host.process is not None and host.process.poll() is not None:
                log = (host.state_dir / "init.log").read_text(errors="replace")
                raise RuntimeError(f"test host {host.name} failed to start:\n{log}")
        pending = [h for h in pending if not _accepts(h, SSH_PORT)]
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"test hosts not ready after {READY_TIMEOUT:g}s: {[h.name for h in pending]}")
        if pending:
            time.sleep(0.02)


def _accepts(host: TestHost, port: int) -> bool:
    """Whether the host's PID 1 listens on ``port`` (read from its namespace's /proc/net/tcp, no packets)."""
    pid = host.init_pid
    if pid is None:
        return False
    try:
        table = Path(f"/proc/{pid}/net/tcp").read_text()
    except OSError:
        return False
    listening = f":{port:04X} 00000000:0000 0A "
    return any(listening in line for line in table.splitlines())


def _stop_all(hosts: Sequence[TestHost]) -> None:
    """TERM each host's PID 1 (``unshare --fork`` ignores TERM itself), wait, then KILL what is left."""
    running = [h.process for h in hosts if h.process is not None]
    for process in running:
        for child in _children(process.pid) if process.poll() is None else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    for process in running:
        if process.poll() is None:
            process.kill()  # unshare's --kill-child then SIGKILLs the host's PID 1 with it
            process.wait()
    for host in hosts:
        host.process = None


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(word) for word in text.split()]


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    queue = _children(pid)
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(_children(child))
    return found


def _processes_in_pid_namespace(init_pid: int) -> list[int]:
    try:
        namespace = os.readlink(f"/proc/{init_pid}/ns/pid")
    except OSError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns" / "pid") == namespace:
                    found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _ip_json(*args: str) -> list[dict[str, Any]]:
    out = _run("ip", "-j", *args)
    return list(json.loads(out)) if out.strip() else []


def _ip_batch(lines: Iterable[str] | Iterable[Iterable[str]], *, force: bool = True) -> None:
    """Run ip commands in one process; with ``force`` (teardown) errors do not stop the batch."""
    flat = [line for item in lines for line in ([item] if isinstance(item, str) else item)]
    if not flat:
        return
    argv = ("ip", "-force", "-batch", "-") if force else ("ip", "-batch", "-")
    done = subprocess.run(argv, input="\n".join(flat) + "\n", capture_output=True, text=True, check=False)
    if done.returncode and not force:
        raise RuntimeError(f"ip -batch failed: {done.stderr.strip()}")


def _run(*argv: str, input: str | None = None) -> str:
    return subprocess.run(argv, input=input, capture_output=True, text=True, check=True).stdout
