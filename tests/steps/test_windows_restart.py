"""A run that finds a restart an earlier, stopped run scheduled: it waits for it instead of failing.

Tier: winrm contract. Real: the Runner, the steps, pypsrp over HTTPS with a test CA, the WinRM protocol (the
endpoint refuses connections while the host is down). Simulated: the Windows host and its restart (the
scheduled task's last run time, the pending shutdown), the control plane.

The case comes from the real vxlan lab: ``up`` was killed right after windows-features scheduled the
restart (``node/reboot``: a SYSTEM task running ``shutdown /r /t 5``); the next ``up`` read the host, then
the restart took it away in the middle of the plan and the host was reported unreachable.
"""

from __future__ import annotations

import datetime

from hybridctl.platforms.windows import RESTART_WINDOW
from hybridctl.steps.windows.windows_features import wanted_features
from tests.lab.windows_sim.testbed import Testbed
from tests.steps.test_windows_steps import ALL, changes, failures
from tests.support.winrm import ScriptContext
from tests.support.winrm.machine import utcnow


def _left_by_a_stopped_run(testbed: Testbed, scheduled_ago: float) -> None:
    """win1 as a run stopped during its feature restart leaves it: features pending, the reboot task run."""
    machine = testbed.nodes["win1"].host.machine
    with machine.lock:
        machine.boot_time = utcnow() - datetime.timedelta(hours=1)
        for name in wanted_features(testbed.cluster):
            machine.feature_states[name] = "InstallPending"
        machine.scheduled_tasks["hybridctl-reboot"] = {
            "user": "SYSTEM",
            "execute": "shutdown.exe",
            "delay": 5,
        }
        machine.task_last_run["hybridctl-reboot"] = utcnow() - datetime.timedelta(seconds=scheduled_ago)


def _restart_after_first_probe(testbed: Testbed, delay: float) -> None:
    """The pending shutdown fires ``delay`` seconds after the new run's first preflight probe."""

    def restart(ctx: ScriptContext) -> None:
        assert ctx.host.power is not None
        ctx.host.power.schedule_restart(delay)

    testbed.nodes["win1"].host.scripts.after_first_run("win/preflight", restart)


def test_a_run_waits_for_the_restart_a_stopped_run_scheduled_and_converges(testbed: Testbed) -> None:
    """The restart lands while the run reads the host: the run waits for it, restarts nothing itself, and
    the node converges; before, the host was unreachable mid-plan or restarted a second time."""
    _left_by_a_stopped_run(testbed, scheduled_ago=4)
    _restart_after_first_probe(testbed, delay=1.0)
    machine = testbed.nodes["win1"].host.machine

    report, events = testbed.run(testbed.steps(ALL), retries=0)

    assert not failures(report), failures(report)
    assert machine.reboots == 1, "only the restart the stopped run scheduled"
    reboots = [e for e in events.of("reboot") if e["host"] == "win1"]
    assert [e["phase"] for e in reboots] == ["scheduled", "down", "up"]
    assert all("an earlier run scheduled" in e["reason"] for e in reboots), reboots
    assert all(state == "Installed" for state in machine.feature_states.values())
    assert testbed.model.nodes()["win1"]["ready"]
    again, _ = testbed.run(testbed.steps(ALL))
    assert changes(again) == []


def test_a_restart_that_never_came_is_reported_and_the_run_restarts_the_host_itself(testbed: Testbed) -> None:
    """The task ran but the host kept its boot time to the end of the window (shutdown /a): the run says so,
    then windows-features restarts the host as on a fresh node."""
    _left_by_a_stopped_run(testbed, scheduled_ago=RESTART_WINDOW - 1)
    machine = testbed.nodes["win1"].host.machine

    report, events = testbed.run(testbed.steps(ALL), retries=0)

    assert not failures(report), failures(report)
    warnings = [e["message"] for e in events.of("warning") if e["host"] == "win1"]
    assert any("did not happen" in w for w in warnings), warnings
    assert machine.reboots == 1, "the run's own restart for the pending features"
    assert testbed.model.nodes()["win1"]["ready"]
