"""What every step gets besides its host: the cluster, what the run has learned, other hosts, options."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hybridctl.connections import ConnectionPool
from hybridctl.events import Event, EventSink
from hybridctl.inventory.models import Cluster, Host
from hybridctl.masking import Masker
from hybridctl.steps.host import DryRunViolationError, HostHandle, HostView

DEPARTING = "departing"
"""RunState key: names of the hosts this run removes from the cluster (``down NAME...``)."""
JOINING = "joining"
"""RunState key: names of the hosts this run joins (``add-node NAME...``; ``frozenset()`` for ``down
NAME...``), or ``None`` when every host of the inventory must end up a node (``up``)."""
ABSENT = "absent"
"""RunState key: hosts of the inventory that are not nodes and that this run does not join (``pod-cidrs``
finds them in the API): ``add-node`` and ``down NAME`` leave them alone."""


@dataclass
class RunState:
    """Values a run learns and shares between steps and hosts (thread-safe)."""

    values: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        """A learned value."""
        with self._lock:
            return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Record a learned value."""
        with self._lock:
            self.values[key] = value

    def setdefault(self, key: str, factory: Any) -> Any:
        """The value for ``key``, computing it once with ``factory()`` under the lock."""
        with self._lock:
            if key not in self.values:
                self.values[key] = factory()
            return self.values[key]


@dataclass
class StepContext:
    """Shared by every step of a run."""

    cluster: Cluster
    pool: ConnectionPool
    events: EventSink
    masker: Masker
    state: RunState = field(default_factory=RunState)
    read_only: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def members(self) -> Cluster:
        """The cluster as it will be after this run: without the hosts ``down`` is removing, and without
        the inventory's hosts that are not nodes and that this run does not join (``ABSENT``).

        Routes and the pod CIDRs to wait for are computed from it, so remaining nodes drop the departing
        nodes' routes instead of waiting for nodes that are going away, and ``add-node X`` neither waits
        for nor touches a host Y that the inventory lists but nobody has joined yet.
        """
        leaving: frozenset[str] = (self.state.get(DEPARTING) or frozenset()) | (
            self.state.get(ABSENT) or frozenset()
        )
        if not leaving:
            return self.cluster
        hosts = [h for h in self.cluster.hosts if h.name not in leaving]
        return self.cluster.model_copy(update={"spec": self.cluster.spec.model_copy(update={"hosts": hosts})})

    def is_member(self, name: str) -> bool:
        """Whether host ``name`` is (or this run makes it) a node of the cluster (see ``members``)."""
        return any(h.name == name for h in self.members.hosts)

    def view(self, name: str) -> HostView:
        """Read-only access to another host of the cluster (e.g. the first control plane)."""
        return self.pool.view(self.cluster.host(name))

    def handle(self, name: str) -> HostHandle:
        """Full access to another host; refused while planning."""
        if self.read_only:
            raise DryRunViolationError(f"a check asked for write access to {name}")
        return self.pool.handle(self.cluster.host(name))

    def host(self, name: str) -> Host:
        """The inventory entry of host ``name``."""
        return self.cluster.host(name)

    def emit(self, kind: str, **data: Any) -> None:
        """Report an event (e.g. a reboot) to the UI, the journal and JSON output."""
        self.events.emit(Event(kind, data, time.time()))
