"""Every Windows step through the real Runner and WinRMTransport against simulated Windows hosts.

Tier: winrm contract. Real: the Runner, the steps, pypsrp over HTTPS with a test CA, the WinRM protocol,
HTTP downloads from a loopback mirror with sha256 checks. Simulated: the Windows hosts (machine model and
script handlers in tests/support/winrm), the control plane (ClusterModel behind a fake transport).
"""

from __future__ import annotations

import json
import time

from hybridctl.events import Outcome
from hybridctl.runner import RunReport
from hybridctl.steps.windows import FINISH, JOIN, NETWORK, PREPARE, WindowsPodNetwork, teardown
from tests.lab.windows_sim.testbed import Testbed
from tests.steps.windows_fixtures import machine_snapshot
from tests.support.plan_text import marked_steps, plan_text
from tests.support.winrm import ScriptContext

ALL = [*PREPARE, *JOIN, *NETWORK, *FINISH]
POOL_OPEN_REQUESTS = 4
REQUESTS_PER_SCRIPT = 2


def failures(report: RunReport) -> str:
    """Failed, unreachable and skipped results, one per line."""
    bad = (Outcome.FAILED, Outcome.UNREACHABLE, Outcome.SKIPPED)
    return "\n".join(
        f"{r.host}/{r.step}: {r.error} {r.result.stderr if r.result else ''}"
        for r in report.results
        if r.outcome in bad
    )


def changes(report: RunReport) -> list[tuple[str, str, list[str]]]:
    """Every (host, step, change summaries) with changes."""
    return [(r.host, r.step, [c.summary for c in r.changes]) for r in report.results if r.changes]


def converge(testbed: Testbed) -> None:
    """Bring both Windows nodes up."""
    report, _ = testbed.run(testbed.steps(ALL))
    assert not failures(report), failures(report)


def test_plan_shows_changes_and_leaves_the_hosts_untouched(testbed: Testbed) -> None:
    before = {n: machine_snapshot(node.host) for n, node in testbed.nodes.items()}
    plan, _ = testbed.run(testbed.steps(ALL), read_only=True)
    assert not failures(plan), failures(plan)
    assert {n: machine_snapshot(node.host) for n, node in testbed.nodes.items()} == before
    changed = {(r.host, r.step) for r in plan.results if r.outcome is Outcome.CHANGED}
    for step in ("windows-features", "windows-directories", "windows-containerd", "windows-kubelet"):
        assert ("win1", step) in changed


def test_apply_converges_with_a_reboot_and_a_second_run_changes_nothing(testbed: Testbed) -> None:
    report, events = testbed.run(testbed.steps(ALL))
    assert not failures(report), failures(report)
    assert [e["phase"] for e in events.of("reboot") if e["host"] == "win1"] == ["scheduled", "down", "up"]
    assert testbed.nodes["win1"].host.machine.reboots == 1
    nodes = testbed.model.nodes()
    assert nodes["win1"]["ready"] and nodes["win2"]["ready"]
    assert nodes["win1"]["labels"]["node.kubernetes.io/windows-build"] == "10.0.20348"
    assert nodes["win1"]["taints"] == [{"key": "os", "value": "windows", "effect": "NoSchedule"}]
    assert not testbed.nodes["win1"].host.machine.has_file("C:\\etc\\kubernetes\\bootstrap-kubelet.conf")

    testbed.reset_counts()
    before = {n: machine_snapshot(node.host) for n, node in testbed.nodes.items()}
    again, _ = testbed.run(testbed.steps(ALL))
    assert not failures(again)
    assert changes(again) == []
    assert {n: machine_snapshot(node.host) for n, node in testbed.nodes.items()} == before
    bound = POOL_OPEN_REQUESTS + REQUESTS_PER_SCRIPT * len(ALL)
    assert all(count <= bound for count in testbed.requests().values()), testbed.requests()


def test_a_dropped_connection_mid_apply_converges_on_the_next_run(testbed: Testbed) -> None:
    def drop(ctx: ScriptContext) -> None:
        assert ctx.host.power is not None
        # The work is done but its answer is lost: the host goes away with the shell (a dropped TCP
        # connection alone is not enough, WinRM shells survive it and pypsrp polls again).
        ctx.host.power.schedule_restart(0)
        ctx.sleep(10)

    dropped = testbed.nodes["win1"].host.scripts.after_first_run("win/install-artifact", drop)
    first, _ = testbed.run(testbed.steps(ALL), retries=0)
    outcomes = [(r.step, r.outcome) for r in first.results if r.host == "win1"]
    assert dropped and any(outcome is Outcome.UNREACHABLE for _, outcome in outcomes), outcomes
    endpoint = testbed.nodes["win1"].endpoint
    deadline = time.monotonic() + 30
    while not endpoint.listening and time.monotonic() < deadline:
        time.sleep(0.1)  # the host comes back after its restart
    second, _ = testbed.run(testbed.steps(ALL), retries=0)
    assert not failures(second), failures(second)
    third, _ = testbed.run(testbed.steps(ALL))
    assert changes(third) == []


def test_pod_network_restores_a_deleted_route_and_removes_a_stale_one(testbed: Testbed) -> None:
    converge(testbed)
    machine = testbed.nodes["win1"].host.machine
    wanted = [r for r in machine.routes if r["store"] == "ActiveStore"]
    assert {r["destinationPrefix"] for r in wanted} == {
        "10.244.0.0/24",
        testbed.model.nodes()["win2"]["podCIDR"],
    }
    machine.routes.remove(wanted[0])
    stale = {**wanted[1], "destinationPrefix": "10.244.99.0/24", "nextHop": "10.231.250.99"}
    machine.routes.append(stale)
    plan, _ = testbed.run(testbed.steps([WindowsPodNetwork()]), read_only=True, hosts=["win1"])
    summaries = [c for _, step, found in changes(plan) if step == "windows-pod-network" for c in found]
    assert any(wanted[0]["destinationPrefix"] in s for s in summaries)
    assert any("stale route 10.244.99.0/24" in s for s in summaries)
    report, _ = testbed.run(testbed.steps([WindowsPodNetwork()]), hosts=["win1"])
    assert not failures(report)
    assert stale not in machine.routes
    assert sum(1 for r in machine.routes if r["destinationPrefix"] == wanted[0]["destinationPrefix"]) == 2


def test_kubelet_rebootstraps_when_its_node_was_deleted(testbed: Testbed) -> None:
    converge(testbed)
    testbed.model.delete_node("win2")
    plan, _ = testbed.run(testbed.steps(JOIN), read_only=True, hosts=["win2"])
    assert any("Node is gone" in c for _, _, found in changes(plan) for c in found)
    report, _ = testbed.run(testbed.steps(JOIN), hosts=["win2"])
    assert not failures(report), failures(report)
    assert "win2" in testbed.model.nodes()


def test_preflight_refuses_with_every_problem(testbed: Testbed) -> None:
    machine = testbed.nodes["win1"].host.machine
    machine.hostname, machine.is_admin, machine.clock_offset, machine.version = (
        "WIN1",
        False,
        60.0,
        "10.0.14393",
    )
    report, _ = testbed.run(testbed.steps(PREPARE[:1], with_cluster=False), read_only=True, hosts=["win1"])
    error = next(r.error for r in report.results if r.host == "win1")
    assert error is not None
    for words in ("14393", "computer name 'WIN1'", "not elevated", "clock differs"):
        assert words in error


def test_reset_removes_everything_hybridctl_made(testbed: Testbed) -> None:
    converge(testbed)
    machine = testbed.nodes["win1"].host.machine
    report, _ = testbed.run(teardown(False), hosts=["win1"])
    assert not failures(report), failures(report)
    assert set(machine.services) == set()
    assert machine.hns_networks == {} and machine.hns_endpoints == {}
    assert machine.routes == [] and machine.scheduled_tasks == {}
    assert not [n for n in machine.firewall_rules if n.startswith("hybridctl-")]
    assert not [
        f for f in machine.files if f.startswith(("c:\\k", "c:\\etc", "c:\\program files", "c:\\opt"))
    ]
    assert "containerd" not in machine.machine_path
    assert machine.feature_states["Containers"] == "Installed"
    again, _ = testbed.run(teardown(False), hosts=["win1"])
    assert changes(again) == []


def test_tokens_never_reach_logs_or_events(testbed: Testbed) -> None:
    report, events = testbed.run(testbed.steps(ALL))
    assert not failures(report), failures(report)
    document = testbed.model.read()
    secrets = [f"{k}.{v['secret']}" for k, v in document["tokens"].items()]
    secrets += list(document["serviceAccountTokens"])
    assert secrets
    shown = testbed.log.text() + json.dumps([e.to_json() for e in events.events]) + repr(report)
    for secret in secrets:
        assert secret not in shown


def test_the_plan_marks_restart_only_where_a_running_service_would_restart(testbed: Testbed) -> None:
    """A fresh node's kubelet and kube-proxy are created and started: no RESTART in its plan. On the
    converged node a changed kubelet config and a changed kube-proxy service setting restart running
    services: the plan marks those rows RESTART and names the host below the table."""
    fresh = plan_text(testbed.run(testbed.steps(ALL), read_only=True)[0])
    assert "windows-kubelet" in fresh and "create service kubelet" in fresh
    assert "RESTART" not in fresh, fresh
    assert "REBOOT" in fresh, "the fresh node's feature install still marks its reboot"

    converge(testbed)
    machine = testbed.nodes["win1"].host.machine
    machine.write_file(r"C:\var\lib\kubelet\config.yaml", b"kind: KubeletConfiguration\n# edited by hand\n")
    machine.services["kube-proxy"].display_name = "edited by hand"
    existing = plan_text(testbed.run(testbed.steps(ALL), read_only=True, hosts=["win1"])[0])
    assert marked_steps(existing, "RESTART", "win1") == {"windows-kubelet", "windows-kube-proxy"}, existing
    assert "RESTART: win1 will restart a service" in existing
