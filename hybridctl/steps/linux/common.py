"""What the Linux steps share: where they run, the host's platform, rendered files, systemd units."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hybridctl.inventory.models import Cluster, Host
from hybridctl.platforms.linux import LinuxPlatform
from hybridctl.render import RenderedFile
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.files import file_changes, install, rendered
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import facts_key

HYBRIDCTL_STATE = "/var/lib/hybridctl"
"""Where hybridctl keeps records on a Linux node (what an archive installed)."""


class LinuxStep(Step):
    """A step that runs on every Linux host."""

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Linux hosts only."""
        return not host.is_windows


def platform(ctx: StepContext, host: HostView) -> LinuxPlatform:
    """The host's platform: from its preflight facts, else read from /etc/os-release once per run."""
    facts: dict[str, Any] | None = ctx.state.get(facts_key(host.name))
    if facts and isinstance(facts.get("distribution"), str):
        return LinuxPlatform.for_distribution(facts["distribution"])
    key = f"platform/{host.name}"
    found: LinuxPlatform = ctx.state.setdefault(key, lambda: LinuxPlatform.detect(host))
    return found


def host_files(ctx: StepContext, host: HostView, purposes: Iterable[str]) -> list[RenderedFile]:
    """The host's rendered files of ``purposes``."""
    return rendered(ctx, host.host, purposes)


def files_check(ctx: StepContext, host: HostView, files: Sequence[RenderedFile]) -> list[Change]:
    """Changes for the rendered files that differ on the host."""
    return file_changes(platform(ctx, host), host, files)


def files_install(ctx: StepContext, host: HostHandle, files: Sequence[RenderedFile]) -> list[str]:
    """Install the rendered files that differ; returns the paths written."""
    return install(platform(ctx, host), host, files)


def unit_changes(ctx: StepContext, host: HostView, units: Sequence[str], *, start: bool) -> list[Change]:
    """Changes for units that are not enabled (and, with ``start``, not running)."""
    changes = []
    for unit, state in platform(ctx, host).unit_states(host, units).items():
        if not state.is_enabled:
            changes.append(Change(f"enable {unit} (now {state.enabled})"))
        if start and not state.is_active:
            changes.append(Change(f"start {unit} (now {state.active})"))
    return changes
