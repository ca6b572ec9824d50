"""windows-containerd-config: the rendered config.toml; containerd restarts only when it changed."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.platforms.windows import apply_json
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.files import install
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.registry_hosts import containerd_changes, converge_registries
from hybridctl.steps.windows.common import PLATFORM, WindowsStep, host_files


class WindowsContainerdConfig(WindowsStep):
    """CRI runtime handlers, the pinned pause image and the CNI directories (reference section 3.2), and the
    registry hosts.toml files (read by containerd on every pull: no restart for them)."""

    name: ClassVar[str] = "windows-containerd-config"
    title: ClassVar[str] = "containerd configuration (Windows)"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The files' content against the rendered one; stale registry directories."""
        config, registries = containerd_changes(ctx, host, PLATFORM)
        return config + registries

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the files; restart containerd if config.toml changed and it runs."""
        install(PLATFORM, host, host_files(ctx, host.host, ["registry-hosts"]))
        converge_registries(ctx, host, PLATFORM)
        if install(PLATFORM, host, host_files(ctx, host.host, ["containerd-config"])):
            apply_json(host, "service-control", {"Name": "containerd", "Action": "restart"})
