"""Files on this machine that an inventory names: they must be there before anything connects.

Key files, CA bundles and client certificates are read when a connection opens, and the artifact cache is
created on first download; a missing one would otherwise fail ``up`` host by host, after other hosts were
already changed. Paths are resolved the way the transports resolve them: ``~`` expanded, relative paths
relative to the inventory's directory. Unlike the other checks these need the file's location, so only
``load_inventory`` runs them (``validate`` and every verb alike).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from hybridctl.inventory.checks.common import CONTROL, HOSTS
from hybridctl.inventory.models import Cluster, Host
from hybridctl.inventory.problems import Path as DataPath
from hybridctl.inventory.problems import Problem, error


def resolve_path(value: str, base: Path) -> Path:
    """``value`` with ``~`` expanded, made absolute against ``base`` (the inventory's directory)."""
    expanded = Path(os.path.expanduser(value))
    return expanded if expanded.is_absolute() else base / expanded


def check_local_files(cluster: Cluster, base: Path) -> list[Problem]:
    """A problem for every named file that is missing or unreadable, and an unusable cacheDir."""
    named = [entry for index, host in enumerate(cluster.hosts) for entry in _host_files(index, host)]
    problems = [p for path, value in named if (p := _readable(path, value, base))]
    cache = cluster.spec.artifacts.cache_dir
    if cache is not None and not CONTROL.search(cache):
        problems += _cache_problems(("spec", "artifacts", "cacheDir"), resolve_path(cache, base))
    return problems


def _host_files(index: int, host: Host) -> Iterator[tuple[DataPath, str]]:
    path = (*HOSTS, index)
    if host.ssh is not None:
        if host.ssh.private_key_file:
            yield (*path, "ssh", "privateKeyFile"), host.ssh.private_key_file
        bastion = host.ssh.bastion
        if bastion is not None and bastion.private_key_file:
            yield (*path, "ssh", "bastion", "privateKeyFile"), bastion.private_key_file
    if host.winrm is not None:
        files = {
            "caBundle": host.winrm.ca_bundle,
            "certificateFile": host.winrm.certificate_file,
            "certificateKeyFile": host.winrm.certificate_key_file,
        }
        yield from (((*path, "winrm", key), value) for key, value in files.items() if value)


def _readable(path: DataPath, value: str, base: Path) -> Problem | None:
    if CONTROL.search(value):
        return None  # already an error of its own
    resolved = resolve_path(value, base)
    key = str(path[-1])
    if not resolved.exists():
        return error(path, f"{key} {resolved} does not exist", _hint(key))
    if not resolved.is_file():
        return error(path, f"{key} {resolved} is not a file", _hint(key))
    if not os.access(resolved, os.R_OK):
        return error(path, f"{key} {resolved} is not readable", "check the file's permissions")
    return None


def _hint(key: str) -> str:
    if key == "caBundle":
        return "copy the CA that signed the host's WinRM certificate there (README: Before you start)"
    if key == "privateKeyFile":
        return (
            "give the key's path (relative paths start at the inventory's directory), "
            "or leave it out to use the SSH agent and ~/.ssh/id_*"
        )
    return "give the PEM file's path (relative paths start at the inventory's directory)"


def _cache_problems(path: DataPath, cache: Path) -> list[Problem]:
    if cache.exists():
        if cache.is_dir() and os.access(cache, os.W_OK | os.X_OK):
            return []
        return [error(path, f"cacheDir {cache} is not a writable directory", "choose a writable directory")]
    parent = next((p for p in cache.parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        message = f"cacheDir {cache} cannot be created: {parent} is not a writable directory"
        return [error(path, message, "create the directory, or choose one below a writable directory")]
    return []


__all__ = ["check_local_files", "resolve_path"]
