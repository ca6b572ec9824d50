"""Hosts: names, addresses, connection blocks, Windows fields, labels and taints."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

from hybridctl.inventory.checks.common import (
    HOSTS,
    LABEL,
    LABEL_NAME,
    QUALIFIED_HINT,
    VALUE_HINT,
    WINDOWS_NAME_MAX,
    check_text,
    is_dns_name,
)
from hybridctl.inventory.checks.connections import check_ssh, check_winrm
from hybridctl.inventory.models import Cluster, Host
from hybridctl.inventory.problems import Path, Problem, error
from hybridctl.versions import WINDOWS_BUILDS


def check_hosts(cluster: Cluster) -> Iterator[Problem]:
    """Unique, valid names and addresses; exactly one connection block matching the OS."""
    if not cluster.hosts:
        yield error(HOSTS, "the inventory lists no hosts", "add at least a control plane")
    yield from _duplicates(cluster, "name", lambda h: h.name)
    yield from _duplicates(cluster, "address", lambda h: h.address)
    for index, host in enumerate(cluster.hosts):
        path = (*HOSTS, index)
        yield from _check_name((*path, "name"), host)
        yield from _check_address((*path, "address"), host.address)
        yield from _check_connection(path, host)
        yield from _check_windows_fields(path, host)


def _duplicates(cluster: Cluster, field: str, key: Callable[[Host], str]) -> Iterator[Problem]:
    seen: dict[str, Host] = {}
    for index, host in enumerate(cluster.hosts):
        value = key(host)
        if value in seen:
            other = "an earlier host" if field == "name" else f"host {seen[value].name!r}"
            message = f"host {field} {value!r} is already used by {other}"
            yield error((*HOSTS, index, field), message, f"every host needs its own {field}")
        elif value:
            seen[value] = host


def _check_name(path: Path, host: Host) -> Iterator[Problem]:
    if host.is_windows and (reason := _windows_name_problem(host.name)):
        hint = (
            f"rename the computer: lowercase letters, digits and '-', at most {WINDOWS_NAME_MAX} characters"
        )
        yield error(path, f"Windows node name {host.name!r} {reason}", hint)
    elif not host.is_windows and not is_dns_name(host.name, lowercase=True):
        message = f"node name {host.name!r} is not a lowercase RFC 1123 name"
        yield error(path, message, "use lowercase letters, digits, '-' and '.'")


def _windows_name_problem(name: str) -> str | None:
    if len(name) > WINDOWS_NAME_MAX:
        return f"is longer than {WINDOWS_NAME_MAX} characters (the NetBIOS limit)"
    if not LABEL.fullmatch(name):
        return "is not a lowercase RFC 1123 label (lowercase letters, digits and '-')"
    if name.isdigit():
        return "cannot be only digits"
    return None


def _check_address(path: Path, text: str) -> Iterator[Problem]:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        yield error(
            path, f"{text!r} is not an IP address", "routes need the node's IPv4 address, not a DNS name"
        )
        return
    if address.version != 4:
        yield error(path, f"{address} is IPv6; only IPv4 is supported", "use the host's IPv4 address")
    elif address.is_loopback or address.is_unspecified or address.is_multicast or address.is_reserved:
        yield error(path, f"{address} cannot be a node address", hint="use the address other nodes reach")
    elif address.is_link_local:
        yield error(path, f"{address} is link-local", hint="give the host a routable address")


def _check_connection(path: Path, host: Host) -> Iterator[Problem]:
    if (host.ssh is None) == (host.winrm is None):
        which = "both ssh and winrm" if host.ssh else "neither ssh nor winrm"
        where = path if host.ssh is None else (*path, "winrm")
        hint = "Linux hosts use an ssh: block, Windows hosts a winrm: block"
        yield error(where, f"host {host.name!r} has {which}: it needs exactly one", hint)
    elif host.is_windows and host.ssh is not None:
        yield error((*path, "ssh"), f"Windows host {host.name!r} is reached over WinRM", "use a winrm: block")
    elif not host.is_windows and host.winrm is not None:
        yield error((*path, "winrm"), f"Linux host {host.name!r} is reached over SSH", "use an ssh: block")
    if host.ssh is not None:
        yield from check_ssh((*path, "ssh"), host.ssh, host.address)
    if host.winrm is not None:
        yield from check_winrm((*path, "winrm"), host.winrm)


def _check_windows_fields(path: Path, host: Host) -> Iterator[Problem]:
    version = host.windows_version
    if version is not None and not host.is_windows:
        yield error(
            (*path, "windowsVersion"),
            f"Linux host {host.name!r} has a windowsVersion",
            "remove it, or set os: windows",
        )
    elif version is not None and version not in WINDOWS_BUILDS:
        supported = "supported: " + ", ".join(str(v) for v in WINDOWS_BUILDS)
        yield error((*path, "windowsVersion"), f"Windows Server {version} is not supported", supported)
    if host.interface is not None:
        yield from check_text((*path, "interface"), host.interface, "the network adapter name")
        if host.interface != host.interface.strip():
            yield error(
                (*path, "interface"),
                "the network adapter name starts or ends with a space",
                "e.g. 'Ethernet 2'",
            )


def check_labels_and_taints(cluster: Cluster) -> Iterator[Problem]:
    """Kubernetes label and taint syntax; no taint twice."""
    for index, host in enumerate(cluster.hosts):
        for key, value in host.labels.items():
            yield from _check_label((*HOSTS, index, "labels", key), key, value)
        yield from _check_taints((*HOSTS, index, "taints"), host)


def _check_taints(path: Path, host: Host) -> Iterator[Problem]:
    seen: set[tuple[str, str]] = set()
    for t_index, taint in enumerate(host.taints):
        where = (*path, t_index)
        if not _valid_qualified_name(taint.key):
            yield error(
                (*where, "key"), f"taint key {taint.key!r} is not a valid qualified name", QUALIFIED_HINT
            )
        if not _valid_label_value(taint.value):
            yield error(
                (*where, "value"), f"taint value {taint.value!r} is not a valid label value", VALUE_HINT
            )
        if (taint.key, taint.effect) in seen:
            yield error(where, f"taint {taint.key}:{taint.effect} is listed twice", "keep one of them")
        seen.add((taint.key, taint.effect))


def _check_label(path: Path, key: str, value: str) -> Iterator[Problem]:
    if not _valid_qualified_name(key):
        yield error(path, f"label key {key!r} is not a valid qualified name", QUALIFIED_HINT)
    if not _valid_label_value(value):
        yield error(path, f"label value {value!r} is not valid", VALUE_HINT)


def _valid_qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and not is_dns_name(prefix, lowercase=True):
        return False
    return bool(name) and len(name) <= 63 and bool(LABEL_NAME.fullmatch(name))


def _valid_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(LABEL_NAME.fullmatch(value))
