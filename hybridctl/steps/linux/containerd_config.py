"""``containerd-config``: containerd's config.toml (CRI handler, systemd cgroups, pause image, CNI dirs)
and the registry hosts.toml files under its config_path."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from hybridctl.commands import shell
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import LinuxStep, files_install, host_files, platform
from hybridctl.steps.registry_hosts import containerd_changes, converge_registries

UNIT = "containerd.service"
_TRY_RESTART = 'systemctl try-restart "$1" || { rc=$?; [ "$rc" -eq 5 ] || exit "$rc"; }'


class ContainerdConfig(LinuxStep):
    """Install the rendered config.toml; restart containerd only when the file changed and it runs.

    It runs before the ``containerd`` step, so a fresh host starts containerd once, already configured;
    ``systemctl try-restart`` leaves a containerd that is not running alone. One that is not installed yet
    makes systemd's ``try-restart`` fail with exit code 5 ("Unit containerd.service not found.", systemd's
    EXIT_PROGRAM_NOT_INSTALLED), which means the same here: nothing to restart. (Found on the real lab's
    systemd 252 hosts; the simulated systemctl had answered 0.)
    Registry hosts.toml files need no restart: containerd reads them on every pull.
    """

    name: ClassVar[str] = "containerd-config"
    title: ClassVar[str] = "configure containerd"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The config file differs (marked RESTART for the plan only when containerd runs now: on a fresh
        node the ``containerd`` step starts it, nothing restarts); registry files (no restart)."""
        config, registries = containerd_changes(ctx, host, platform(ctx, host))
        if config and platform(ctx, host).unit_states(host, [UNIT])[UNIT].is_active:
            config = [dataclasses.replace(c, impact="restart") for c in config]
        return config + registries

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the files, remove stale registry directories; try-restart containerd if config.toml did."""
        files_install(ctx, host, host_files(ctx, host, ["registry-hosts"]))
        converge_registries(ctx, host, platform(ctx, host))
        if files_install(ctx, host, host_files(ctx, host, ["containerd-config"])):
            host.run(shell(_TRY_RESTART, UNIT), timeout=300)
