"""Builders shared by the engine tests: a small cluster, fake hosts, steps that record what they do."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from hybridctl.commands import posix
from hybridctl.connections import ConnectionPool
from hybridctl.events import Recorder
from hybridctl.inventory.models import Cluster, Host
from hybridctl.masking import Masker
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.testing import FakeHost, FakeTransport


def cluster(linux: int = 2, windows: int = 2, control_planes: int = 1) -> Cluster:
    """``control_planes`` control planes, ``linux - control_planes`` Linux and ``windows`` Windows workers."""
    hosts = []
    for i in range(linux):
        role = "control-plane" if i < control_planes else "worker"
        hosts.append(
            {"name": f"lin{i}", "address": f"10.0.0.{10 + i}", "role": role, "os": "linux", "ssh": {}}
        )
    for i in range(windows):
        hosts.append(
            {
                "name": f"win{i}",
                "address": f"10.0.1.{10 + i}",
                "role": "worker",
                "os": "windows",
                "winrm": {"user": "u", "password": "p"},
            }
        )
    return Cluster.model_validate(
        {
            "apiVersion": "hybridctl.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "t"},
            "spec": {"kubernetes": {"version": "1.37.2"}, "hosts": hosts},
        }
    )


@dataclass
class World:
    """Fake hosts plus a context over them."""

    cluster: Cluster
    fakes: dict[str, FakeHost]
    recorder: Recorder
    ctx: StepContext
    opened: list[str] = field(default_factory=list)


def world(c: Cluster | None = None, masker: Masker | None = None) -> World:
    """A StepContext over fake transports for every host of ``c``."""
    c = c or cluster()
    fakes = {h.name: FakeHost(h.name, h.os) for h in c.hosts}
    for fake in fakes.values():
        fake.on("true", (0, "", ""))
    recorder = Recorder()
    opened: list[str] = []

    def factory(host: Host) -> FakeTransport:
        opened.append(host.name)
        return FakeTransport(fakes[host.name])

    ctx = StepContext(c, ConnectionPool(factory), recorder, masker or Masker())
    return World(c, fakes, recorder, ctx, opened)


class Tracker:
    """Thread-safe record of concurrently running steps."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, int] = {"linux": 0, "windows": 0}
        self.peak: dict[str, int] = {"linux": 0, "windows": 0}
        self.order: list[tuple[str, str, str]] = []

    def enter(self, host: HostView | HostHandle, step: str) -> None:
        """A step started applying on ``host``."""
        with self.lock:
            self.running[host.host.os] += 1
            self.peak[host.host.os] = max(self.peak[host.host.os], self.running[host.host.os])
            self.order.append(("start", host.name, step))

    def leave(self, host: HostView | HostHandle, step: str) -> None:
        """A step finished on ``host``."""
        with self.lock:
            self.running[host.host.os] -= 1
            self.order.append(("end", host.name, step))


def make_step(
    name: str,
    tracker: Tracker,
    *,
    requires: tuple[str, ...] = (),
    barrier: bool = False,
    delay: float = 0.0,
    applies: Callable[[Host], bool] = lambda h: True,
    action: Callable[[HostHandle], None] | None = None,
    alone: Callable[[Host], bool] = lambda h: False,
) -> Step:
    """A step that always has one change, marks a file on the host and records timing."""

    class Marker(Step):
        title: ClassVar[str] = f"mark {name}"

        def applies_to(self, host: Host, cluster: Cluster) -> bool:
            return applies(host)

        def one_at_a_time(self, host: Host) -> bool:
            return alone(host)

        def check(self, host: HostView, ctx: StepContext) -> list[Change]:
            done = host.get(f"/marks/{name}") is not None
            return [] if done else [Change(f"create /marks/{name}")]

        def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
            tracker.enter(host, name)
            try:
                time.sleep(delay)
                if action:
                    action(host)
                host.run(posix("true"))
                host.put(b"x", f"/marks/{name}")
            finally:
                tracker.leave(host, name)

    Marker.name = name
    Marker.requires = requires
    Marker.barrier = barrier
    return Marker()
