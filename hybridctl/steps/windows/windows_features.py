"""windows-features: Containers (and Hyper-V when Hyper-V isolation is offered); restarts when needed."""

from __future__ import annotations

from typing import Any, ClassVar

from hybridctl.inventory.models import Cluster
from hybridctl.platforms.windows import ReconnectableTransport, apply_json, reboot_and_wait, strings
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import PLATFORM, WindowsStep

HYPERV_FEATURES = ("Hyper-V", "Hyper-V-PowerShell")


def wanted_features(cluster: Cluster) -> list[str]:
    """The Windows features the cluster's isolation classes need."""
    extra = list(HYPERV_FEATURES) if "hyperv" in cluster.spec.windows.isolation else []
    return ["Containers", *extra]


def feature_changes(state: dict[str, Any], names: list[str]) -> list[Change]:
    """A change per feature that is not installed, or installed but waiting for a restart."""
    changes = []
    for name in names:
        feature = (state.get("features") or {}).get(name) or {}
        if feature.get("installState") == "InstallPending":
            changes.append(Change(f"reboot to finish installing the Windows feature {name}", impact="reboot"))
        elif not feature.get("installed"):
            changes.append(Change(f"install the Windows feature {name} (the host reboots)", impact="reboot"))
    return changes


def restart_host(host: HostHandle, ctx: StepContext, why: str) -> None:
    """Restart the host, report the reboot's phases, and carry on with a reconnected transport."""
    transport = host.transport
    if not hasattr(transport, "reconnect"):
        raise StepError(f"{host.name}: cannot restart through {type(transport).__name__}")
    reconnectable: ReconnectableTransport = transport  # type: ignore[assignment]
    reboot_and_wait(
        reconnectable,
        poll_interval=float(ctx.options.get("reboot_poll_interval", 5.0)),
        on_phase=lambda phase: ctx.emit("reboot", host=host.name, phase=phase, reason=why),
    )


class WindowsFeatures(WindowsStep):
    """Install the features; when Windows asks for a restart, restart and continue in the same run."""

    name: ClassVar[str] = "windows-features"
    title: ClassVar[str] = "install Windows features"
    windows_timeout: ClassVar[float] = 2400.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Get-WindowsFeature: installed, or pending a restart."""
        names = wanted_features(ctx.cluster)
        return feature_changes(PLATFORM.state(host, Features=strings(names)), names)

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Install-WindowsFeature, restart if asked, then confirm."""
        names = wanted_features(ctx.cluster)
        result = apply_json(host, "install-features", {"Names": strings(names)})
        if result.get("restartNeeded"):
            restart_host(host, ctx, "Windows features " + ", ".join(names))
        left = feature_changes(PLATFORM.state(host, Features=strings(names)), names)
        if left:
            raise StepError(f"{host.name}: after installing: " + "; ".join(c.summary for c in left))
