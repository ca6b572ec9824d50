"""``swap``: the kubelet refuses to start with swap on (failSwapOn); turn it off now and at boot."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.commands import posix, shell
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import LinuxStep, platform

FSTAB = "/etc/fstab"
MARK = "# disabled by hybridctl (the kubelet needs swap off): "
_ACTIVE = "swapon --show=NAME --noheadings"


class Swap(LinuxStep):
    """``swapoff -a`` and comment out the swap entries of /etc/fstab (other entries untouched)."""

    name: ClassVar[str] = "swap"
    title: ClassVar[str] = "turn swap off"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Active swap areas, and swap entries in /etc/fstab that are still in effect."""
        changes = [Change(f"turn off swap on {name}") for name in _active(host)]
        fstab = host.get(FSTAB)
        if fstab is not None:
            changes += [Change(f"comment out {line.split()[0]} in {FSTAB}") for line in swap_lines(fstab)]
        return changes

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Turn swap off, then rewrite /etc/fstab without active swap entries."""
        if _active(host):
            host.run(posix("swapoff", "-a"))
        fstab = host.get(FSTAB)
        if fstab is not None and swap_lines(fstab):
            platform(ctx, host).install_file(host, FSTAB, without_swap(fstab), 0o644)


def _active(host: HostView) -> list[str]:
    return host.run(shell(_ACTIVE, probe=True)).stdout.split()


def _is_swap(line: str) -> bool:
    fields = line.split()
    return len(fields) >= 3 and not fields[0].startswith("#") and fields[2] == "swap"


def swap_lines(fstab: bytes) -> list[str]:
    """The uncommented swap entries of an fstab."""
    return [line for line in fstab.decode("utf-8", errors="replace").splitlines() if _is_swap(line)]


def without_swap(fstab: bytes) -> bytes:
    """The fstab with each swap entry commented out (and marked, so a person sees why)."""
    lines = fstab.decode("utf-8", errors="replace").splitlines(keepends=True)
    return "".join(MARK + line if _is_swap(line) else line for line in lines).encode()
