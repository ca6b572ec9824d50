"""The step interface: a read-only ``check`` and an ``apply``, with scheduling hints for the runner."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from hybridctl.errors import HybridctlError

if TYPE_CHECKING:
    from hybridctl.inventory.models import Cluster, Host
    from hybridctl.steps.context import StepContext
    from hybridctl.steps.host import HostHandle, HostView


Impact = Literal["reboot", "restart", "delete"]


@dataclass(frozen=True)
class Change:
    """One thing a step would change on a host; ``diff`` is a unified diff with secrets masked."""

    summary: str
    diff: str | None = None
    impact: Impact | None = None
    """What an operator must know before saying yes: the host reboots, a service restarts, or
    something is deleted. The plan marks such changes."""

    def to_json(self) -> dict[str, str | None]:
        """Machine-readable form."""
        return {"summary": self.summary, "diff": self.diff, "impact": self.impact}


class StepError(HybridctlError):
    """A step found a problem it cannot fix (a failed precondition, a broken host)."""


def other_mode(mode: str) -> str:
    """The network mode that is not ``mode`` (routes <-> vxlan)."""
    return "vxlan" if mode == "routes" else "routes"


def mode_switch_problems(found: list[str], mode: str) -> list[str]:
    """A node built in the other network mode (``found``: the files that show it) is refused: switching
    routes <-> vxlan in place would cut every pod off mid-change (pods keep addresses from the old CNI
    config; bridge and routes would clash with flannel's overlay), so hybridctl does not do it half-way."""
    if not found:
        return []
    other = other_mode(mode)
    return [
        f"the node runs the {other} pod network ({', '.join(found)}) but the inventory says {mode}: "
        f"switching an existing cluster between routes and vxlan is not supported; keep mode: {other}, "
        "or remove the cluster with 'hybridctl down' and build it again"
    ]


class Step(ABC):
    """One provisioning step. Subclasses are small; one per file in ``hybridctl/steps``."""

    name: ClassVar[str]
    """Stable identifier (journal, JSON events, ``requires``)."""
    title: ClassVar[str]
    """What the step does, for people."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Steps that must be done on every host they apply to before this one starts anywhere."""
    barrier: ClassVar[bool] = False
    """Wait until every host has finished every earlier step."""
    retry_safe: ClassVar[bool] = True
    """May be repeated after a transient connection error (the step is idempotent)."""
    timeout: ClassVar[float] = 300.0
    """Seconds the step may take on a Linux host."""
    windows_timeout: ClassVar[float] = 900.0
    """Seconds the step may take on a Windows host."""
    connects: ClassVar[bool] = True
    """False for steps that act on a host through another one (e.g. deleting its Node object from the
    control plane): the runner then does not connect to the host itself, which may already be gone."""

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Whether the step runs on ``host`` at all (decided from the inventory, without connecting)."""
        return True

    def one_at_a_time(self, host: Host) -> bool:
        """Whether ``host`` runs this step alone among the hosts for which this also holds.

        The runner never starts the step on such a host while it runs on another such host (the other
        hosts keep their parallelism); the order among them is the inventory's.
        """
        return False

    @abstractmethod
    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """What would change on ``host``; read-only (the view refuses writes)."""

    @abstractmethod
    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Make the changes found by a fresh ``check``."""

    def undo(self, host: HostHandle, ctx: StepContext) -> list[Change]:
        """Revert what the step installs; returns what was removed. Steps without undo return []."""
        return []

    def time_limit(self, host: Host) -> float:
        """This step's timeout on ``host``."""
        return self.windows_timeout if host.is_windows else self.timeout

    def __repr__(self) -> str:
        return f"<step {self.name}>"
