"""The one place that picks a transport by OS: SSH for Linux hosts, WinRM for Windows hosts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.inventory.local_files import resolve_path
from hybridctl.inventory.models import Bastion, Host, SSHConnection, WinRMConnection
from hybridctl.masking import Masker
from hybridctl.transport.base import CommandLog, NullLog, Transport
from hybridctl.transport.kerberos import KerberosTickets


@dataclass(frozen=True)
class TransportSettings:
    """What every connection of a run shares."""

    known_hosts: Path
    accept_new_host_keys: bool = False
    log: CommandLog = field(default_factory=NullLog)
    masker: Masker = field(default_factory=Masker)
    connect_timeout: float = 10.0
    base_dir: Path = field(default_factory=Path.cwd)
    """Relative file paths in the inventory (keys, CA bundles) are relative to the inventory's directory."""
    inventory: Path | None = None
    """The inventory file, named in hints such as ``hybridctl hosts forget NAME -i FILE``."""
    kerberos: KerberosTickets | None = None
    """The run's private Kerberos credential cache (one AS exchange per principal and run)."""


def open_transport(host: Host, settings: TransportSettings) -> Transport:
    """A connected transport to ``host``; raises TransportError subclasses when it cannot connect."""
    host = resolve_paths(host, settings.base_dir)
    if host.is_windows:
        from hybridctl.transport.winrm import WinRMTransport

        return WinRMTransport.connect(
            host,
            log=settings.log,
            masker=settings.masker,
            connect_timeout=settings.connect_timeout,
            tickets=settings.kerberos,
        )
    from hybridctl.transport.hostkeys import KnownHosts
    from hybridctl.transport.ssh import SSHTransport

    # A KnownHosts per host is fine: writes to one file are serialised by hostkeys' per-file lock.
    known = KnownHosts(
        settings.known_hosts, accept_new=settings.accept_new_host_keys, inventory=settings.inventory
    )
    return SSHTransport.connect(
        host,
        known_hosts=known,
        log=settings.log,
        masker=settings.masker,
        connect_timeout=settings.connect_timeout,
    )


def _path(value: str | None, base: Path) -> str | None:
    return None if value is None else str(resolve_path(value, base))


def resolve_paths(host: Host, base: Path) -> Host:
    """``host`` with ``~`` expanded and relative key, certificate and CA paths made absolute."""
    if host.ssh is not None:
        return host.model_copy(update={"ssh": _resolve_ssh(host.ssh, base)})
    if host.winrm is not None:
        return host.model_copy(update={"winrm": _resolve_winrm(host.winrm, base)})
    return host


def _resolve_ssh(ssh: SSHConnection, base: Path) -> SSHConnection:
    bastion: Bastion | None = ssh.bastion
    if bastion is not None:
        bastion = bastion.model_copy(update={"private_key_file": _path(bastion.private_key_file, base)})
    return ssh.model_copy(update={"private_key_file": _path(ssh.private_key_file, base), "bastion": bastion})


def _resolve_winrm(winrm: WinRMConnection, base: Path) -> WinRMConnection:
    update = {
        "ca_bundle": _path(winrm.ca_bundle, base),
        "certificate_file": _path(winrm.certificate_file, base),
        "certificate_key_file": _path(winrm.certificate_key_file, base),
    }
    return winrm.model_copy(update=update)
