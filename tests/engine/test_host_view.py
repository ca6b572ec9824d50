"""HostView.waiting: a check may wait on its host's connection (a restart under way) but still not change it.

Tier: unit. Real: HostView and the probe-only connection it hands out. Fake: the transport (FakeTransport,
which records every command and upload it receives).
"""

from __future__ import annotations

import threading
import time

import pytest

from hybridctl.commands import posix
from hybridctl.inventory.models import Host
from hybridctl.steps.host import DryRunViolationError, HostView, StepTimeoutError
from hybridctl.testing import FakeHost, FakeTransport
from hybridctl.transport.base import Transport


def _view(fake: FakeHost, deadline: float | None = None) -> HostView:
    host = Host.model_validate(
        {"name": "lin1", "address": "10.0.0.1", "role": "worker", "os": "linux", "ssh": {}}
    )
    return HostView(host, FakeTransport(fake), threading.Lock(), deadline=deadline)


def test_a_wait_runs_probes_and_is_refused_anything_that_changes_the_host() -> None:
    fake = FakeHost("lin1")
    fake.on("uptime", (0, "up 1 min", ""))
    view = _view(fake)

    assert view.waiting(lambda t: t.run(posix("uptime", probe=True)).stdout) == "up 1 min"
    with pytest.raises(DryRunViolationError):
        view.waiting(lambda t: t.run(posix("reboot")))
    with pytest.raises(DryRunViolationError):
        view.waiting(lambda t: t.put(b"x", "/etc/x"))
    assert [c.argv[0] for c in fake.history] == ["uptime"], "the refused command never reached the host"
    assert fake.files == {}


def test_the_time_spent_waiting_does_not_count_against_the_step_limit() -> None:
    fake = FakeHost("lin1")
    fake.on("true", (0, "", ""))
    view = _view(fake, deadline=time.monotonic() + 0.3)

    def slow(_transport: Transport) -> None:
        time.sleep(0.5)  # longer than the step had left

    view.waiting(slow)
    assert view.run(posix("true", probe=True)).ok, "the probe after the wait still has its time"
    time.sleep(0.35)
    with pytest.raises(StepTimeoutError):
        view.run(posix("true", probe=True))
