"""The registry directories hybridctl wrote under containerd's config_path, and removing stale ones.

A JSON record on the node lists the directories (``hybridctl.render.registries.directories``) hybridctl
installed; a registry taken out of ``spec.containerd.registries`` has its directory removed, and nothing
hybridctl did not write is touched. containerd needs no restart for either: it reads the host directory
on every pull (see ``hybridctl.render.registries``).
"""

from __future__ import annotations

import hashlib
import json

from hybridctl.inventory.models import Host
from hybridctl.platforms.base import Platform
from hybridctl.render.registries import directories
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.files import changes_from, rendered
from hybridctl.steps.host import HostHandle, HostView

LINUX_RECORD = "/var/lib/hybridctl/registry-hosts.json"
WINDOWS_RECORD = "C:\\k\\hybridctl\\registry-hosts.json"


def record_path(host: Host) -> str:
    """Where the record of ``host`` lives."""
    return WINDOWS_RECORD if host.is_windows else LINUX_RECORD


def containerd_changes(
    ctx: StepContext, host: HostView, platform: Platform
) -> tuple[list[Change], list[Change]]:
    """(changes of config.toml, changes of the registry files, stale directories and the record).

    One hash query covers every file and the record; the record is read only when it is not the wanted
    one, so a converged node costs what the config file alone did.
    """
    config = rendered(ctx, host.host, ["containerd-config"])
    registry = rendered(ctx, host.host, ["registry-hosts"])
    record, wanted = record_path(host.host), _wanted(ctx, host)
    paths = [f.target for f in (*config, *registry) if f.target]
    hashes = platform.file_hashes(host, [*paths, record])
    changes = changes_from(host, registry, hashes)
    want = hashlib.sha256(_record_data(wanted)).hexdigest() if wanted else None
    if hashes.get(record) != want:
        changes += [Change(f"remove {d} (registry no longer in the inventory)") for d in _stale(host, wanted)]
        changes.append(Change(f"record the registry directories in {record}"))
    return changes_from(host, config, hashes), changes


def converge_registries(ctx: StepContext, host: HostHandle, platform: Platform) -> None:
    """Remove stale directories, then record the wanted ones (no record when there are none)."""
    wanted = _wanted(ctx, host)
    if recorded(host) == wanted:
        return
    platform.remove_paths(host, _stale(host, wanted))
    if wanted:
        platform.install_file(host, record_path(host.host), _record_data(wanted), 0o644)
    else:
        platform.remove_paths(host, [record_path(host.host)])


def _wanted(ctx: StepContext, host: HostView) -> list[str]:
    return sorted(directories(ctx.members, host.host))


def _record_data(wanted: list[str]) -> bytes:
    return json.dumps(wanted).encode()


def _stale(host: HostView, wanted: list[str]) -> list[str]:
    return [d for d in recorded(host) if d not in wanted]


def recorded(host: HostView) -> list[str]:
    """The registry directories hybridctl wrote on ``host``, from its record."""
    data = host.get(record_path(host.host))
    if data is None:
        return []
    try:
        found = json.loads(data)
    except ValueError:
        found = None
    if not isinstance(found, list) or not all(isinstance(d, str) for d in found):
        raise StepError(f"{host.name}: {record_path(host.host)} is not a JSON list of directories")
    return sorted(found)
