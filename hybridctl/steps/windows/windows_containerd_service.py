"""windows-containerd-service: containerd registered as a service, automatic, running, its pipe present."""

from __future__ import annotations

from typing import Any, ClassVar

from hybridctl.platforms.windows import apply_json
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import CONTAINERD_EXE, CONTAINERD_PIPE, PLATFORM, WindowsStep


def service_changes(state: dict[str, Any]) -> list[Change]:
    """What keeps containerd from being an automatic, running service with its pipe."""
    service = (state.get("services") or {}).get("containerd") or {}
    if not service.get("exists"):
        return [Change("register containerd as a Windows service and start it")]
    changes = []
    if service.get("startType") != "Automatic":
        changes.append(Change(f"set containerd to start automatically (now {service.get('startType')})"))
    if service.get("status") != "Running":
        changes.append(Change(f"start containerd (now {service.get('status')})"))
    elif not (state.get("pipes") or {}).get(CONTAINERD_PIPE):
        changes.append(
            Change(f"containerd runs but {CONTAINERD_PIPE} is missing: restart it", impact="restart")
        )
    return changes


class WindowsContainerdService(WindowsStep):
    """``containerd.exe --register-service``, automatic start, running (reference W8)."""

    name: ClassVar[str] = "windows-containerd-service"
    title: ClassVar[str] = "containerd service (Windows)"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Get-Service containerd and Test-Path of its pipe, in one round trip."""
        return service_changes(PLATFORM.state(host, Services=["containerd"], Pipes=[CONTAINERD_PIPE]))

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Register when missing, set automatic, start, wait for the pipe."""
        if any("restart" in change.summary for change in changes):
            apply_json(host, "service-control", {"Name": "containerd", "Action": "restart"})
        apply_json(host, "containerd-service", {"Exe": CONTAINERD_EXE, "Pipe": CONTAINERD_PIPE})
