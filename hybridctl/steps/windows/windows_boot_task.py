"""windows-boot-task: the scheduled task that runs C:\\k\\hybridctl\\boot.ps1 at startup as SYSTEM."""

from __future__ import annotations

from typing import Any, ClassVar

from hybridctl.platforms.windows import apply_json
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import BOOT_SCRIPT, BOOT_TASK, PLATFORM, WindowsStep

EXECUTE = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
ARGUMENTS = f'-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{BOOT_SCRIPT}"'
WANTED = {"execute": EXECUTE, "arguments": ARGUMENTS, "userId": "SYSTEM", "trigger": "MSFT_TaskBootTrigger"}


def task_changes(task: dict[str, Any] | None) -> list[Change]:
    """Missing task, or one whose action, account or trigger differ."""
    if not task or not task.get("exists"):
        return [Change(f"register scheduled task {BOOT_TASK} (at startup, SYSTEM: {BOOT_SCRIPT})")]
    wrong = [key for key, value in WANTED.items() if str(task.get(key, "")).lower() != value.lower()]
    return [Change(f"update scheduled task {BOOT_TASK}: {', '.join(wrong)} differ")] if wrong else []


class WindowsBootTask(WindowsStep):
    """After a restart the boot script restores the pod network, then starts the agents in order."""

    name: ClassVar[str] = "windows-boot-task"
    title: ClassVar[str] = "boot task (Windows)"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Get-ScheduledTask: action, principal, trigger."""
        return task_changes((PLATFORM.state(host, Tasks=[BOOT_TASK]).get("tasks") or {}).get(BOOT_TASK))

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Register-ScheduledTask -Force."""
        apply_json(host, "boot-task", {"TaskName": BOOT_TASK, "Execute": EXECUTE, "Arguments": ARGUMENTS})
