"""windows-directories: the directories of the reference's section 2.5 that hybridctl uses."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.platforms.windows import apply_json, strings
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import PLATFORM, WindowsStep, directories


class WindowsDirectories(WindowsStep):
    """Create the missing directories."""

    name: ClassVar[str] = "windows-directories"
    title: ClassVar[str] = "create directories (Windows)"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Test-Path of every directory, in one round trip."""
        return [Change(f"create {path}") for path in _missing(host, directories(ctx.cluster))]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """New-Item -ItemType Directory for the missing ones."""
        missing = _missing(host, directories(ctx.cluster))
        apply_json(host, "create-directories", {"Paths": strings(missing)})


def _missing(host: HostView, wanted: tuple[str, ...]) -> list[str]:
    present = PLATFORM.state(host, Directories=strings(wanted)).get("directories") or {}
    return [path for path in wanted if not present.get(path)]
