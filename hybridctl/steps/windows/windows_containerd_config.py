"""windows-containerd-config: the rendered config.toml; containerd restarts only when it changed."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.platforms.windows import apply_json
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.files import file_changes, install
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import PLATFORM, WindowsStep, host_files


class WindowsContainerdConfig(WindowsStep):
    """CRI runtime handlers, the pinned pause image and the CNI directories (reference section 3.2)."""

    name: ClassVar[str] = "windows-containerd-config"
    title: ClassVar[str] = "containerd configuration (Windows)"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The file's content against the rendered one."""
        return file_changes(PLATFORM, host, host_files(ctx, host.host, ["containerd-config"]))

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the file; restart containerd if it runs (a stopped one reads it when it starts)."""
        if install(PLATFORM, host, host_files(ctx, host.host, ["containerd-config"])):
            apply_json(host, "service-control", {"Name": "containerd", "Action": "restart"})
