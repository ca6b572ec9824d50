"""The simulated Windows machine's state: what a later lab's script handlers read and change.

Simulated: all of it. Paths are case-insensitive and accept ``/`` or ``\\`` like Windows.
"""

from __future__ import annotations

import datetime
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hybridctl.versions import WINDOWS_BUILDS


def utcnow() -> datetime.datetime:
    """The current UTC time, millisecond precision (what ``node/boot-time`` reports)."""
    now = datetime.datetime.now(datetime.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


_INVALID_PATH_CHARS = frozenset('<>"|?*:') | frozenset(chr(code) for code in range(32))
_DRIVE = re.compile(r"^[A-Za-z]:")


class InvalidPathError(ValueError):
    """A path Windows refuses ("Illegal characters in path.")."""


def check_path(path: str) -> str:
    """``path`` if Windows accepts it as a file path; InvalidPathError otherwise."""
    body = path[2:] if _DRIVE.match(path) else path
    if not body or any(char in _INVALID_PATH_CHARS for char in body):
        raise InvalidPathError(f"Illegal characters in path '{path}'.")
    return path


def path_key(path: str) -> str:
    """The lookup key of a Windows path: backslashes, case-folded, no trailing separator."""
    return check_path(path).replace("/", "\\").rstrip("\\").casefold()


DEFAULT_ROOT_ACL = (
    "S-1-5-18:Allow:FullControl",
    "S-1-5-32-544:Allow:FullControl",
    "S-1-5-32-545:Allow:ReadAndExecute, Synchronize",
)
"""What ``C:`` grants and every directory created under it inherits: Users may read."""


@dataclass
class Service:
    """A Windows service (``Get-Service`` plus what ``sc.exe qc`` shows)."""

    name: str
    binary_path: str = ""
    status: str = "Stopped"
    start_type: str = "Manual"
    display_name: str = ""
    depends_on: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    """nssm's registry values (``Services\\<name>\\Parameters``), for nssm services."""


@dataclass
class ScriptCall:
    """One script the host ran: identity, parameters and how it ended (completed/failed/stopped)."""

    identity: str
    parameters: dict[str, Any]
    outcome: str = "running"


@dataclass
class WindowsMachine:
    """Everything the simulated Windows host knows about itself. Add fields freely; handlers own semantics."""

    hostname: str = "WIN-NODE1"
    build: int = 20348
    version: str = "10.0.20348"
    edition: str = "Windows Server 2022 Datacenter"
    boot_time: datetime.datetime = field(default_factory=utcnow)
    files: dict[str, bytearray] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)
    services: dict[str, Service] = field(default_factory=dict)
    features: dict[str, bool] = field(default_factory=dict)
    firewall_rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    hns_networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    routes: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    scheduled_tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_last_run: dict[str, datetime.datetime] = field(default_factory=dict)  # Get-ScheduledTaskInfo
    images: set[str] = field(default_factory=set)  # containerd's image store (CRI, namespace k8s.io)
    history: list[ScriptCall] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    stopped: list[str] = field(default_factory=list)
    reboots: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    is_admin: bool = True
    w32time: str = "Running"
    clock_offset: float = 0.0
    hyperv_capable: bool = True
    hotfixes: set[str] = field(default_factory=set)
    feature_states: dict[str, str] = field(default_factory=dict)
    """Get-WindowsFeature InstallState by name: Available, InstallPending, Installed, UninstallPending."""
    features_need_restart: bool = True
    machine_path: str = "C:\\Windows\\system32;C:\\Windows"
    nic_rebinds: bool = True
    """The first external HNS network cuts every connection for a moment (the NIC moves to a vSwitch)."""
    hns_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    """HNS endpoints by name: id, network, ipAddress and whether it is attached to the host."""
    sandboxes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Pod sandboxes by id (``endpoint``: its HNS endpoint's name). Their containers run under
    containerd-shim-runhcs-v1, not inside the containerd daemon (containerd "Runtime v2"), so stopping or
    removing the containerd service leaves them running; a reboot ends them."""
    adapters: dict[str, str] = field(default_factory=lambda: {"Ethernet": "192.0.2.10"})
    """Physical adapters (``Get-NetAdapter`` names) and their IPv4 address. VMware guests name the NIC
    ``Ethernet0``, Hyper-V and Azure guests often ``Ethernet 2`` (microsoft/SDN#300)."""
    acls: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Explicit ACLs by path key: ``protected`` (inheritance off) and ``rules`` (``SID:Allow:Rights``).
    Paths without one inherit from their parent; ``C:`` grants BUILTIN Users (S-1-5-32-545) read and
    execute, which directories created under it inherit (Windows' default; Kubernetes documentation,
    Windows security)."""
    vnic_delay: float = 0.0
    """Seconds after a network is created before its vNIC holds the management IP."""
    boot_hooks: list[Callable[[], None]] = field(default_factory=list, repr=False, compare=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def write_file(self, path: str, data: bytes) -> None:
        """Create or replace a file."""
        with self.lock:
            self.files[path_key(path)] = bytearray(data)

    def append_file(self, path: str, data: bytes) -> int:
        """Append to a file (created when missing); return its new size."""
        with self.lock:
            content = self.files.setdefault(path_key(path), bytearray())
            content += data
            return len(content)

    def read_file(self, path: str) -> bytes:
        """A file's bytes; FileNotFoundError when missing."""
        with self.lock:
            try:
                return bytes(self.files[path_key(path)])
            except KeyError:
                raise FileNotFoundError(path) from None

    def file_size(self, path: str) -> int | None:
        """A file's size, or None when it does not exist."""
        with self.lock:
            content = self.files.get(path_key(path))
            return None if content is None else len(content)

    def has_file(self, path: str) -> bool:
        """True when the file exists."""
        return self.file_size(path) is not None

    def move_file(self, source: str, destination: str) -> None:
        """Rename a file, replacing the destination (``Move-Item -Force``)."""
        with self.lock:
            self.files[path_key(destination)] = self.files.pop(path_key(source))

    def delete_file(self, path: str) -> bool:
        """Remove a file; True when it existed."""
        with self.lock:
            return self.files.pop(path_key(path), None) is not None

    def calls(self, identity: str) -> list[ScriptCall]:
        """Every recorded call of the script ``identity``."""
        with self.lock:
            return [call for call in self.history if call.identity == identity]

    def delete_tree(self, path: str) -> bool:
        """Remove a file or a directory with everything below it; True when anything existed."""
        key = path_key(path)
        with self.lock:
            files = [k for k in self.files if k == key or k.startswith(key + "\\")]
            dirs = {d for d in self.directories if d == key or d.startswith(key + "\\")}
            for name in files:
                del self.files[name]
            for name in [k for k in self.acls if k == key or k.startswith(key + "\\")]:
                del self.acls[name]
            self.directories -= dirs
            return bool(files or dirs)

    def effective_acl(self, path: str) -> dict[str, Any]:
        """Get-Acl: the path's own rules plus inherited ones, and whether inheritance is off."""
        parts = path_key(path).split("\\")
        rules: list[str] = []
        protected_here = False
        for depth in range(len(parts), 0, -1):
            key = "\\".join(parts[:depth])
            acl = self.acls.get(key)
            if acl is None:
                continue
            rules += [r for r in acl["rules"] if r not in rules]
            protected_here = protected_here or (depth == len(parts) and acl["protected"])
            if acl["protected"]:
                return {"protected": protected_here, "rules": rules}
        return {"protected": False, "rules": rules + [r for r in DEFAULT_ROOT_ACL if r not in rules]}

    def exists(self, path: str) -> bool:
        """Test-Path: a file, a directory, or the parent of either."""
        key = path_key(path)
        with self.lock:
            inside = (k.startswith(key + "\\") for k in (*self.files, *self.directories))
            return key in self.files or key in self.directories or any(inside)

    def power_cycle(self) -> None:
        """What a restart does: new boot time, nothing running, pending features done, boot hooks run."""
        with self.lock:
            self.boot_time = utcnow()
            self.running.clear()
            self.reboots += 1
            for service in self.services.values():
                service.status = "Stopped"
            self.sandboxes.clear()
            for endpoint in self.hns_endpoints.values():
                # HNS keeps the network and the host endpoint over a reboot, but the endpoint comes back
                # detached from the host (flannel-io/flannel#1391, #1858).
                endpoint["attached"] = False
            # A network created with EnableNonPersistent (flanneld's overlay, flannel-io/flannel
            # pkg/backend/vxlan/device_windows.go) is gone after a reboot, with its endpoints.
            gone = {n for n, net in self.hns_networks.items() if not net.get("persistent", True)}
            self.hns_networks = {n: v for n, v in self.hns_networks.items() if n not in gone}
            self.hns_endpoints = {n: e for n, e in self.hns_endpoints.items() if e["network"] not in gone}
            done = {"InstallPending": "Installed", "UninstallPending": "Available"}
            self.feature_states = {k: done.get(v, v) for k, v in self.feature_states.items()}
        for hook in list(self.boot_hooks):
            hook()


EDITIONS = {
    2019: "Windows Server 2019 Datacenter",
    2022: "Windows Server 2022 Datacenter",
    2025: "Windows Server 2025 Datacenter",
}


@dataclass(frozen=True)
class WindowsBuild:
    """Which Windows a simulated host runs: its name, OS version (``10.0.<build>``) and installed updates."""

    name: str
    version: str = WINDOWS_BUILDS[2022]
    hotfixes: frozenset[str] = frozenset()

    @property
    def year(self) -> int:
        """The Windows Server release (an inventory's ``windowsVersion``) of this build."""
        return next(year for year, build in WINDOWS_BUILDS.items() if build == self.version)

    def machine(self, adapter: str, address: str) -> WindowsMachine:
        """A fresh machine of this build with one adapter holding ``address``."""
        return WindowsMachine(
            hostname=self.name,
            adapters={adapter: address},
            build=int(self.version.rsplit(".", 1)[1]),
            version=self.version,
            edition=EDITIONS[self.year],
            hotfixes=set(self.hotfixes),
        )
