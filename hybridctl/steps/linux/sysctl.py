"""``sysctl``: kernel parameters for bridged pod traffic and forwarding, set now and at every boot."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.commands import posix, shell
from hybridctl.render import RenderedFile
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import LinuxStep, files_check, files_install, host_files

_VALUES = 'for k; do sysctl -n "$k" 2>/dev/null || echo "<missing>"; done'


class Sysctl(LinuxStep):
    """Install hybridctl's sysctl.d file and apply exactly that file (never ``sysctl --system``)."""

    name: ClassVar[str] = "sysctl"
    title: ClassVar[str] = "set kernel parameters (bridge netfilter, IP forwarding)"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The file differs, or a live value differs from it."""
        files = host_files(ctx, host, ["sysctl"])
        changes = files_check(ctx, host, files)
        for key, (live, wanted) in _differing(host, files).items():
            changes.append(Change(f"set {key} = {wanted} (now {live})"))
        return changes

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the file and load it; other sysctl.d files are left alone on purpose."""
        files = host_files(ctx, host, ["sysctl"])
        files_install(ctx, host, files)
        for item in files:
            assert item.target is not None
            host.run(posix("sysctl", "-q", "-p", item.target))


def settings_of(files: list[RenderedFile]) -> dict[str, str]:
    """``key = value`` pairs of sysctl.d files, in order."""
    settings = {}
    for item in files:
        for line in item.content.decode().splitlines():
            text = line.strip()
            if text and not text.startswith(("#", ";")) and "=" in text:
                key, value = text.split("=", 1)
                settings[key.strip().lstrip("-")] = " ".join(value.split())
    return settings


def _differing(host: HostView, files: list[RenderedFile]) -> dict[str, tuple[str, str]]:
    wanted = settings_of(files)
    if not wanted:
        return {}
    lines = host.run(shell(_VALUES, *wanted, probe=True)).stdout.splitlines()
    live = dict(zip(wanted, (" ".join(v.split()) for v in lines), strict=False))
    return {k: (live.get(k, "<missing>"), v) for k, v in wanted.items() if live.get(k) != v}
