"""windows-smoke-image (``spec.smoke.prePull``): containerd pulls the smoke image in the background.

``win/smoke-image`` asks crictl (installed beside containerd) whether the CRI has the image and registers a
SYSTEM scheduled task that runs ``crictl pull`` through the CRI, so containerd's registry hosts apply and
the kubelet finds the image; the task outlives the WinRM command. windows-reset removes the task.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hybridctl.commands import PsValue
from hybridctl.inventory.models import Cluster, Host
from hybridctl.platforms.windows import apply_json, probe_json
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.smoke_image import PULL_NAME, pre_pulls, pull_changes, pull_ref
from hybridctl.steps.windows.common import CRI_ENDPOINT, CRICTL_EXE, WindowsStep

TASK_PENDING = (0, 0x41303, 0x41301)
"""Last results that are not a failed pull: success, SCHED_S_TASK_HAS_NOT_RUN, SCHED_S_TASK_RUNNING."""


class WindowsSmokeImage(WindowsStep):
    """Start the background pull of the smoke image unless containerd has it or the pull runs."""

    name: ClassVar[str] = "windows-smoke-image"
    title: ClassVar[str] = "pull the smoke image (background)"
    windows_timeout: ClassVar[float] = 120.0

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Windows hosts, when the inventory asks for it."""
        return pre_pulls(host, cluster, windows=True)

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Whether the CRI has the image, the task runs, and how its last run ended."""
        return _changes(ctx, probe_json(host, "smoke-image", _params(ctx)))

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Register and start the task; it goes on after this returns."""
        apply_json(host, "smoke-image", {**_params(ctx), "Start": True})


def _params(ctx: StepContext) -> dict[str, PsValue]:
    return {"Ref": pull_ref(ctx.cluster), "Crictl": CRICTL_EXE, "RuntimeEndpoint": CRI_ENDPOINT}


def _changes(ctx: StepContext, state: dict[str, Any]) -> list[Change]:
    last = state.get("lastResult")
    failed = None if last is None or int(last) in TASK_PENDING else f"ended with 0x{int(last):x}"
    return pull_changes(
        pull_ref(ctx.cluster),
        present=bool(state.get("present")),
        pulling=bool(state.get("pulling")),
        where=f"scheduled task {PULL_NAME}",
        failed=failed,
    )
