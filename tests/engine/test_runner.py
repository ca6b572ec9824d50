"""Runner behaviour: parallelism caps, barriers, dependencies, re-check, outcomes, stop policy, retries.

Tier: unit. Real: the runner, its thread pool and scheduler, steps, host views. Simulated: the hosts
(hybridctl.testing.FakeTransport keeps files in memory and answers commands from responders).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import ClassVar

import pytest

from hybridctl.commands import posix
from hybridctl.events import Outcome
from hybridctl.runner import Runner, RunnerOptions
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.kubeadm_join import KubeadmJoin
from tests.engine.helpers import Tracker, World, cluster, make_step, world

FAST = RunnerOptions(backoff=0.0)


def outcomes(report, step: str) -> dict[str, Outcome]:
    return {r.host: r.outcome for r in report.results if r.step == step}


def test_every_step_changes_once_then_a_second_run_changes_nothing() -> None:
    w = world()
    tracker = Tracker()
    steps = [make_step("a", tracker), make_step("b", tracker)]
    first = Runner(w.ctx, w.cluster.hosts, steps, FAST).run()
    assert first.count(Outcome.CHANGED) == 8
    second = Runner(w.ctx, w.cluster.hosts, steps, FAST).run()
    assert second.count(Outcome.OK) == 8
    assert second.count(Outcome.CHANGED) == 0


def test_one_connection_per_host_for_the_whole_run() -> None:
    w = world()
    tracker = Tracker()
    Runner(w.ctx, w.cluster.hosts, [make_step(n, tracker) for n in "abcd"], FAST).run()
    assert sorted(w.opened) == sorted(h.name for h in w.cluster.hosts)


def test_concurrency_caps_are_respected_per_os() -> None:
    w = world(cluster(linux=6, windows=5))
    tracker = Tracker()
    steps = [make_step("a", tracker, delay=0.05), make_step("b", tracker, delay=0.05)]
    Runner(w.ctx, w.cluster.hosts, steps, RunnerOptions(linux_parallel=2, windows_parallel=1)).run()
    assert tracker.peak == {"linux": 2, "windows": 1}


def test_hosts_move_independently_without_a_barrier() -> None:
    w = world(cluster(linux=2, windows=0))
    tracker = Tracker()
    slow = make_step("a", tracker, delay=0.3, applies=lambda h: h.name == "lin0")
    steps = [slow, make_step("b", tracker)]
    Runner(w.ctx, w.cluster.hosts, steps, FAST).run()
    assert tracker.order.index(("end", "lin1", "b")) < tracker.order.index(("end", "lin0", "a"))


def test_barrier_waits_for_every_host_to_finish_earlier_steps() -> None:
    w = world(cluster(linux=3, windows=1))
    tracker = Tracker()
    steps = [make_step("a", tracker, delay=0.05), make_step("b", tracker, barrier=True)]
    Runner(w.ctx, w.cluster.hosts, steps, FAST).run()
    last_a_end = max(i for i, e in enumerate(tracker.order) if e[0] == "end" and e[2] == "a")
    first_b_start = min(i for i, e in enumerate(tracker.order) if e[0] == "start" and e[2] == "b")
    assert last_a_end < first_b_start


def test_requires_waits_for_a_step_on_another_host_while_others_prepare_in_parallel() -> None:
    w = world(cluster(linux=2, windows=2))
    tracker = Tracker()
    init = make_step("init", tracker, delay=0.2, applies=lambda h: h.is_control_plane)
    prepare = make_step("prepare", tracker, applies=lambda h: not h.is_control_plane)
    join = make_step("join", tracker, requires=("init",), applies=lambda h: not h.is_control_plane)
    Runner(w.ctx, w.cluster.hosts, [prepare, init, join], FAST).run()
    init_end = tracker.order.index(("end", "lin0", "init"))
    assert all(tracker.order.index(("start", h, "join")) > init_end for h in ("lin1", "win0", "win1"))
    assert all(tracker.order.index(("end", h, "prepare")) < init_end for h in ("lin1", "win0", "win1"))


def _intervals(tracker: Tracker, step: str) -> dict[str, tuple[int, int]]:
    starts = {h: i for i, (kind, h, s) in enumerate(tracker.order) if kind == "start" and s == step}
    return {h: (i, tracker.order.index(("end", h, step))) for h, i in starts.items()}


def test_control_planes_join_one_at_a_time_while_workers_join_alongside() -> None:
    """The real kubeadm-join step's rule: etcd admits one learner at a time, so control planes join in turn.

    Real: the runner's scheduler and KubeadmJoin.one_at_a_time. Simulated: the join itself (a marker step
    that takes 0.1 s), on fake hosts.
    """
    w = world(cluster(linux=5, windows=0, control_planes=3))
    tracker = Tracker()
    join_rule = KubeadmJoin().one_at_a_time
    join = make_step("join", tracker, delay=0.1, applies=lambda h: h.name != "lin0", alone=join_rule)
    Runner(w.ctx, w.cluster.hosts, [join], FAST).run()
    spans = _intervals(tracker, "join")
    first, second = sorted((spans["lin1"], spans["lin2"]))
    assert first[1] < second[0], f"control-plane joins overlapped: {tracker.order}"
    workers = [spans["lin3"], spans["lin4"]]
    assert all(w[0] < first[1] for w in workers), f"workers waited for a control-plane join: {tracker.order}"


def test_check_runs_again_right_before_apply() -> None:
    w = world(cluster(linux=1, windows=0))
    tracker = Tracker()
    step = make_step("a", tracker)
    planner = Runner(w.ctx, w.cluster.hosts, [step], FAST)
    w.ctx.read_only = True
    plan = planner.run()
    assert outcomes(plan, "a") == {"lin0": Outcome.CHANGED}
    w.fakes["lin0"].files["/marks/a"] = b"made by someone else meanwhile"
    w.ctx.read_only = False
    report = Runner(w.ctx, w.cluster.hosts, [step], FAST).run()
    assert outcomes(report, "a") == {"lin0": Outcome.OK}
    assert tracker.order == []


def test_unreachable_is_kept_apart_from_failed() -> None:
    w = world(cluster(linux=2, windows=0))
    tracker = Tracker()
    w.fakes["lin0"].reachable = False
    w.fakes["lin1"].on("true", (3, "", "boom"))
    report = Runner(w.ctx, w.cluster.hosts, [make_step("a", tracker)], RunnerOptions(retries=0)).run()
    assert outcomes(report, "a") == {"lin0": Outcome.UNREACHABLE, "lin1": Outcome.FAILED}
    failed = next(r for r in report.results if r.host == "lin1")
    assert failed.result is not None
    assert failed.result.exit_code == 3
    assert failed.result.stderr == "boom"


def test_default_policy_stops_after_a_failure_and_continue_on_error_keeps_going() -> None:
    def build() -> tuple:
        w = world(cluster(linux=3, windows=0))
        w.fakes["lin0"].on("true", (1, "", "bad"))
        tracker = Tracker()
        return w, [make_step("a", tracker), make_step("b", tracker, barrier=True)]

    w, steps = build()
    report = Runner(w.ctx, w.cluster.hosts, steps, FAST).run()
    assert outcomes(report, "a") == {"lin0": Outcome.FAILED, "lin1": Outcome.CHANGED, "lin2": Outcome.CHANGED}
    assert set(outcomes(report, "b").values()) == {Outcome.SKIPPED}
    w, steps = build()
    report = Runner(w.ctx, w.cluster.hosts, steps, RunnerOptions(continue_on_error=True)).run()
    assert outcomes(report, "b") == {
        "lin0": Outcome.SKIPPED,
        "lin1": Outcome.CHANGED,
        "lin2": Outcome.CHANGED,
    }


def test_transient_errors_are_retried_only_for_steps_safe_to_repeat() -> None:
    w = world(cluster(linux=2, windows=0))
    tracker = Tracker()
    safe = make_step("safe", tracker)
    unsafe = make_step("unsafe", tracker)
    type(unsafe).retry_safe = False
    w.fakes["lin0"].drop_next_command = True
    report = Runner(w.ctx, w.cluster.hosts[:1], [safe], FAST).run()
    assert report.results[0].outcome is Outcome.CHANGED
    assert report.results[0].attempts == 2
    assert len(w.recorder.of_kind("retry")) == 1
    w.fakes["lin1"].drop_next_command = True
    report = Runner(w.ctx, w.cluster.hosts[1:], [unsafe], FAST).run()
    assert report.results[0].outcome is Outcome.UNREACHABLE
    assert report.results[0].attempts == 1


def test_a_failed_dependency_blocks_dependants_with_a_reason() -> None:
    w = world(cluster(linux=2, windows=1))
    tracker = Tracker()
    w.fakes["lin0"].on("true", (1, "", "init failed"))
    init = make_step("init", tracker, applies=lambda h: h.is_control_plane)
    join = make_step("join", tracker, requires=("init",), applies=lambda h: not h.is_control_plane)
    report = Runner(w.ctx, w.cluster.hosts, [init, join], RunnerOptions(continue_on_error=True)).run()
    joins = [r for r in report.results if r.step == "join"]
    assert {r.outcome for r in joins} == {Outcome.SKIPPED}
    assert all("init did not complete on lin0" in (r.error or "") for r in joins)


class _WritingCheck(Step):
    name: ClassVar[str] = "writes-in-check"
    title: ClassVar[str] = "a buggy step"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        host.run(posix("rm", "-rf", "/important"))
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        raise AssertionError("never reached")


def test_dry_run_is_structural_a_check_cannot_run_non_probe_commands() -> None:
    w = world(cluster(linux=1, windows=0))
    report = Runner(w.ctx, w.cluster.hosts, [_WritingCheck()], FAST).run()
    assert report.results[0].outcome is Outcome.FAILED
    assert "non-probe command" in (report.results[0].error or "")
    assert w.fakes["lin0"].history == []
    assert not hasattr(HostView, "put")


@pytest.mark.parametrize("read_only", [True, False])
def test_cross_host_write_access_is_refused_while_planning(read_only: bool) -> None:
    w = world(cluster(linux=2, windows=0))
    w.ctx.read_only = read_only
    if read_only:
        with pytest.raises(Exception, match="write access"):
            w.ctx.handle("lin0")
    else:
        assert w.ctx.handle("lin0").name == "lin0"


class _ThroughControlPlane(Step):
    name: ClassVar[str] = "through-cp"
    title: ClassVar[str] = "acts on a host through the control plane"
    connects: ClassVar[bool] = False

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        return [Change(f"delete node {host.name}")]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        ctx.handle("lin0").run(posix("true"))
        with pytest.raises(Exception, match="does not connect"):
            host.run(posix("true"))


def test_a_step_that_works_through_another_host_never_connects_to_its_own() -> None:
    w = world(cluster(linux=2, windows=0))
    w.fakes["lin1"].reachable = False
    report = Runner(w.ctx, w.cluster.hosts[1:], [_ThroughControlPlane()], FAST).run()
    assert report.results[0].outcome is Outcome.CHANGED
    assert "lin1" not in w.opened


class _Slow(Step):
    name: ClassVar[str] = "slow"
    title: ClassVar[str] = "takes a while"

    seconds: ClassVar[float] = 1.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        time.sleep(self.seconds)
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing."""


class _VerySlow(_Slow):
    seconds: ClassVar[float] = 5.0


def _interrupt_after(*delays: float) -> threading.Thread:
    def press() -> None:
        for delay in delays:
            time.sleep(delay)
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_is_acknowledged_at_once_lets_running_steps_finish_and_starts_nothing_new() -> None:
    w = world(cluster(linux=1, windows=0))
    _interrupt_after(0.3)
    started = time.time()
    report = Runner(w.ctx, w.cluster.hosts, [_Slow(), make_step("after", Tracker())], FAST).run()
    [notice] = w.recorder.of_kind("interrupt")
    assert notice.time - started < 0.8  # acknowledged while the slow step still ran
    assert "Ctrl-C again to abort" in notice.data["message"]
    assert report.interrupted
    assert outcomes(report, "slow") == {"lin0": Outcome.OK}
    assert outcomes(report, "after") == {"lin0": Outcome.SKIPPED}


def test_a_second_ctrl_c_aborts_without_waiting_for_running_steps() -> None:
    """The second Ctrl-C comes once the first was acknowledged (two signals that arrive before the
    interpreter looks coalesce into one, as on a starved machine); the run aborts long before the
    running 5 s step would end."""
    w = world(cluster(linux=1, windows=0))
    _ctrl_c_twice(w)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        Runner(w.ctx, w.cluster.hosts, [_VerySlow()], FAST).run()
    assert time.monotonic() - started < 3.0


def _ctrl_c_twice(w: World) -> threading.Thread:
    def press() -> None:
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 2.0
        while not w.recorder.of_kind("interrupt") and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


def test_seconds_cover_every_attempt() -> None:
    w = world(cluster(linux=1, windows=0))
    w.fakes["lin0"].drop_next_command = True
    slow_retry = RunnerOptions(backoff=0.3)
    report = Runner(w.ctx, w.cluster.hosts, [make_step("safe", Tracker())], slow_retry).run()
    assert report.results[0].attempts == 2
    assert report.results[0].duration >= 0.3
