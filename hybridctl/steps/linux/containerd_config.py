"""``containerd-config``: containerd's config.toml (CRI handler, systemd cgroups, pause image, CNI dirs)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import LinuxStep, files_check, files_install, host_files, platform

UNIT = "containerd.service"


class ContainerdConfig(LinuxStep):
    """Install the rendered config.toml; restart containerd only when the file changed and it runs.

    It runs before the ``containerd`` step, so a fresh host starts containerd once, already configured;
    ``systemctl try-restart`` leaves a containerd that is not running (or not installed yet) alone.
    """

    name: ClassVar[str] = "containerd-config"
    title: ClassVar[str] = "configure containerd"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The config file differs; marked RESTART for the plan only when containerd runs now.

        On a fresh node containerd is not running yet: the ``containerd`` step starts it, nothing restarts.
        """
        changes = files_check(ctx, host, host_files(ctx, host, ["containerd-config"]))
        if not changes or not platform(ctx, host).unit_states(host, [UNIT])[UNIT].is_active:
            return changes
        return [dataclasses.replace(c, impact="restart") for c in changes]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the file; try-restart containerd if it was written."""
        if files_install(ctx, host, host_files(ctx, host, ["containerd-config"])):
            platform(ctx, host).systemctl(host, "try-restart", UNIT)
