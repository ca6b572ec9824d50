"""up interrupted at a random step (SIGINT, SIGTERM, kill -9), then up again, converges; the Windows
reboot for the Containers feature happens inside one up, and a run after an up killed during that reboot
waits for it; a second run waits for nobody but fails fast.
add-node (of a Linux and a Windows host) and down (of one node, then of the whole cluster) are
interrupted the same way, at a point drawn uniformly over their own steps, and the next run of the same
verb converges: nodes, full route tables on every host, and packets between pods on every node (for the
whole cluster: every host clean).
This cluster uses ``artifacts.cacheDir``: hybridctl downloads each artifact once and pushes it.

Tier: lab (root). Real: the hybridctl CLI in a subprocess and the signals it receives, the lock and
journal in its state directory, sshd test hosts, pypsrp over HTTPS to WinRM endpoints in the Windows
hosts' namespaces (whose listener really goes down and comes back for the reboot).
Simulated: Kubernetes binaries and systemd on the Linux host, the Windows OS, the control plane.
The random step is drawn from a seed printed in every assertion message (HYBRIDCTL_LAB_SEED fixes it).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from hybridctl.state import read_journal
from tests.lab.clean import assert_every_host_clean
from tests.lab.datapath import Pods, attach_linux, attach_windows, reachability
from tests.lab.e2e import (
    HybridLab,
    Member,
    changed_steps,
    events,
    interrupt_after,
    interrupt_on,
    planned_changes,
)
from tests.lab.linux_sim.lab import SimLab
from tests.lab.routes import assert_route_tables, linux_routes, windows_routes
from tests.support.winrm_fixtures import WinRMAccount, WinRMPki

pytestmark = [pytest.mark.root, pytest.mark.lab, pytest.mark.slow]
SEED = int(os.environ.get("HYBRIDCTL_LAB_SEED", time.time_ns() % 100_000))
MIRROR_MARK: list[int] = []


@pytest.fixture(scope="module")
def small(
    sim_lab: SimLab,
    tmp_path_factory: pytest.TempPathFactory,
    winrm_pki: WinRMPki,
    winrm_account: WinRMAccount,
) -> Iterator[HybridLab]:
    """One control plane, one Linux worker and one Windows worker, nothing installed yet."""
    sim_lab.reset_model()
    lab = HybridLab(sim_lab, tmp_path_factory.mktemp("small"), winrm_pki, winrm_account)
    try:
        cp, lin = lab.add_linux(2)
        (win,) = lab.add_windows(1)
        lab.write_inventory([(cp, "control-plane"), (lin, "worker"), (win, "worker")], cache=True)
        MIRROR_MARK.append(len(sim_lab.mirror.sources))  # the mirror is shared by the session's labs
        yield lab
    finally:
        lab.close()
        sim_lab.reset_model()


def _journal(lab: HybridLab) -> list[dict[str, object]]:
    return read_journal(lab.state_dir / "journal.jsonl")


def test_the_run_after_up_was_killed_during_a_windows_restart_waits_for_that_restart(
    small: HybridLab,
) -> None:
    """kill -9 right after windows-features scheduled the Containers restart (shutdown /r /t 5 as SYSTEM):
    the restart still comes after hybridctl is gone. The next run, a plan here, starts before it: its
    Windows preflight waits for it (the host goes down and comes back), and it then plans from the restarted
    host: no REBOOT left, no host unreachable. Before, the restart took the host away in the middle of the
    plan, or the plan still showed the pending feature and a second restart."""
    (win,) = small.windows
    process = small.start("up", "--yes", "--accept-new-host-keys")
    seen = interrupt_on(
        process, lambda e: e["event"] == "reboot" and e.get("phase") == "scheduled", signal.SIGKILL
    )
    assert process.returncode == -signal.SIGKILL, [e["event"] for e in seen][-5:]
    assert win.simulated.machine.reboots == 0, "the restart was still to come when hybridctl died"

    plan = small.hybridctl("plan", "--output", "json")

    assert plan.returncode == 0, plan.stderr + plan.stdout[-3000:]
    waited = [e for e in events(plan.stdout) if e["event"] == "reboot" and e["host"] == win.name]
    assert [e["phase"] for e in waited] == ["scheduled", "down", "up"], waited
    assert all("an earlier run scheduled" in str(e["reason"]) for e in waited), waited
    assert win.simulated.machine.reboots == 1
    assert (win.name, "windows-features") not in planned_changes(plan.stdout)
    assert not [e for e in events(plan.stdout) if e.get("outcome") == "unreachable"]


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_an_interrupted_up_leaves_readable_state(small: HybridLab, how: signal.Signals) -> None:
    rng = random.Random(f"{SEED}-{how.name}")
    point = rng.random()  # uniform over every (host, step) of the run, cluster steps included
    process = small.start("up", "--yes", "--accept-new-host-keys")
    seen = interrupt_after(process, point, how)
    done = sum(1 for e in seen if e["event"] == "step-end")
    why = f"seed {SEED}: {how.name} at {point:.3f} of the run ({done} step results seen)"
    expected = {signal.SIGKILL: -signal.SIGKILL}.get(how, 130)
    assert process.returncode == expected, why
    assert any(e["event"] == "step-end" for e in seen), why
    journal = _journal(small)
    assert journal and all("event" in record for record in journal), why
    if how is not signal.SIGKILL:
        assert not (small.state_dir / "lock").exists(), f"{why}: the lock was not released"


def test_up_after_the_interruptions_converges_with_a_reboot_inside(small: HybridLab) -> None:
    result = small.hybridctl("up", "--yes", "--accept-new-host-keys", "--output", "json")
    assert result.returncode == 0, f"seed {SEED}\n{result.stderr}{result.stdout[-3000:]}"
    assert "removed a stale lock" in result.stderr
    nodes = small.sim.model.nodes()
    assert len(nodes) == 3 and all(n["ready"] for n in nodes.values())
    (win,) = small.windows
    assert win.simulated.machine.reboots == 1, "the Containers feature restarts Windows exactly once"
    reboots = [e for e in _all_events(small, result.stdout) if e["event"] == "reboot"]
    assert [e["phase"] for e in reboots if e["host"] == win.name][-3:] == ["scheduled", "down", "up"]
    again = small.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0, again.stderr
    assert changed_steps(again.stdout) == []


def _all_events(lab: HybridLab, stdout: str) -> list[dict[str, object]]:
    """The reboot may have happened in an interrupted run: look in the journal too."""
    return [*_journal(lab), *events(stdout)]


def test_a_second_run_fails_fast_naming_the_holder(small: HybridLab) -> None:
    holder = small.start("plan")
    try:
        deadline = time.monotonic() + 30
        while not (small.state_dir / "lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        second = small.hybridctl("plan")
        assert time.monotonic() - started < 10
        assert second.returncode == 1
        assert f"pid {holder.pid}" in second.stderr and "--break-lock" in second.stderr
    finally:
        holder.communicate(timeout=300)


def test_secrets_never_reach_output_logs_or_journal(small: HybridLab) -> None:
    secrets = [small.account.password, *small.sim.model.read()["serviceAccountTokens"]]
    secrets += [f"{k}.{v['secret']}" for k, v in small.sim.model.read()["tokens"].items()]
    result = small.hybridctl("plan", "--output", "json", "--diff", "--junit", str(small.workdir / "plan.xml"))
    assert result.returncode == 0, result.stderr
    texts = [result.stdout, result.stderr, (small.workdir / "plan.xml").read_text()]
    texts += [p.read_text(errors="replace") for p in Path(small.state_dir).rglob("*") if p.is_file()]
    assert small.account.password in small.env().values()
    cases = ElementTree.parse(small.workdir / "plan.xml").getroot().findall("testcase")
    step_ends = [e for e in events(result.stdout) if e["event"] == "step-end"]
    assert {(c.get("classname"), c.get("name")) for c in cases} == {(e["host"], e["step"]) for e in step_ends}
    names = ["stdout", "stderr", "junit", *(str(p) for p in Path(small.state_dir).rglob("*") if p.is_file())]
    leaks = [
        (secret[:6], name)
        for secret in secrets
        for name, text in zip(names, texts, strict=True)
        if secret in text
    ]
    assert leaks == [], "a secret reached the output, a log or the journal"


def test_with_a_cache_the_admin_downloads_each_artifact_once_and_nodes_none(small: HybridLab) -> None:
    gateway = small.sim.hosts.gateway
    mine = small.sim.mirror.sources[MIRROR_MARK[-1] :]
    archives = [(client, path) for client, path in mine if not _package_index(path)]
    assert archives, "nothing was fetched from the mirror"
    by_admin = [path for client, path in archives if client == gateway]
    assert [path for client, path in archives if client != gateway] == [], "a node downloaded an artifact"
    artifacts = [p for p in by_admin if not p.endswith((".sha256", ".sha256sum"))]
    assert len(artifacts) == len(set(artifacts)), "an artifact was downloaded twice"
    assert (small.workdir / "cache").is_dir()
    (win,) = small.windows
    assert win.simulated.machine.calls("node/download") == []
    assert win.simulated.machine.calls("transport/put-chunk")


def _package_index(path: str) -> bool:
    """The Kubernetes package repository (apt) is always read by the nodes themselves."""
    return "/pkgs.k8s.io/" in path


# --- add-node and down, interrupted ------------------------------------------------------------------

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def _interrupted(lab: HybridLab, verb: str, *args: str) -> str:
    """Run ``verb`` and interrupt it at a seeded random point with a seeded random signal; returns the
    description every assertion message carries."""
    rng = random.Random(f"{SEED}-{verb}")
    how, point = rng.choice(SIGNALS), rng.random()
    process = lab.start(verb, *args, "--yes", "--accept-new-host-keys")
    seen = interrupt_after(process, point, how)
    done = sum(1 for e in seen if e["event"] == "step-end")
    why = f"seed {SEED}: {verb} got {how.name} at {point:.3f} of the run ({done} step results seen)"
    assert process.returncode == {signal.SIGKILL: -signal.SIGKILL}.get(how, 130), why
    return why


def _cluster_is_whole(lab: HybridLab, why: str, suffix: str) -> None:
    """Every node Ready, full route tables everywhere, and a pod on every node reaching every other."""
    nodes = lab.sim.model.nodes()
    assert all(n["ready"] for n in nodes.values()), f"{why}: {nodes}"
    assert_route_tables(lab)
    pods = Pods()
    try:
        for host in [h for h in lab.linux if h.name in nodes]:
            attach_linux(pods, host, f"pod-{host.name}-{suffix}")
        for node in [n for n in lab.windows if n.name in nodes]:
            attach_windows(pods, node, f"pod-{node.name}-{suffix}")
        assert len(pods.pods) == len(nodes), why
        assert reachability(pods) == {}, why
    finally:
        pods.close()


def _converged(lab: HybridLab, why: str) -> None:
    plan = lab.hybridctl("plan", "--detailed-exitcode", "--output", "json")
    assert plan.returncode == 0, f"{why}: still planned {planned_changes(plan.stdout)}"


def test_an_interrupted_add_node_converges_on_the_next_add_node(small: HybridLab) -> None:
    """add-node of one Linux and one Windows host (Containers feature reboot included), interrupted at a
    random step, then add-node again: both join, every host routes to every pod CIDR once, pods on all
    five nodes reach each other, and the next plan is empty."""
    (lin2,) = small.add_linux(1)
    (win2,) = small.add_windows(1)
    cp, *workers = small.linux
    members: list[Member] = [(cp, "control-plane"), *((h, "worker") for h in workers)]
    small.write_inventory([*members, *((n, "worker") for n in small.windows)], cache=True)
    why = _interrupted(small, "add-node", lin2.name, win2.name)
    result = small.hybridctl("add-node", lin2.name, win2.name, "--yes", "--output", "json")
    assert result.returncode == 0, f"{why}\n{result.stderr}{result.stdout[-3000:]}"
    assert {lin2.name, win2.name} <= set(small.sim.model.nodes()), why
    _cluster_is_whole(small, why, "added")
    _converged(small, why)


def test_an_interrupted_down_converges_on_the_next_down(small: HybridLab) -> None:
    """down of the Windows node added above, interrupted at a random step, then down again: the node is
    gone from the API, its host keeps no hybridctl service, network or route, no other host routes to
    its pod CIDR, the remaining pods reach each other, and the next plan is empty."""
    win2 = small.windows[-1]
    gone = small.sim.model.nodes()[win2.name]["podCIDR"]
    why = _interrupted(small, "down", win2.name)
    result = small.hybridctl("down", win2.name, "--yes", "--output", "json")
    assert result.returncode == 0, f"{why}\n{result.stderr}{result.stdout[-3000:]}"
    assert win2.name not in small.sim.model.nodes(), why
    machine = win2.simulated.machine
    assert set(machine.services) == set() and machine.hns_networks == {} and machine.routes == [], why
    assert windows_routes(win2) == set(), why
    assert all(gone not in linux_routes(h) for h in small.linux), why
    assert all(gone not in windows_routes(n) for n in small.windows if n is not win2), why
    # the operator takes the host out of the inventory (the lab keeps it, and removes it at the end)
    cp, *workers = small.linux
    members: list[Member] = [(cp, "control-plane"), *((h, "worker") for h in workers)]
    small.write_inventory([*members, *((n, "worker") for n in small.windows if n is not win2)], cache=True)
    _cluster_is_whole(small, why, "removed")
    _converged(small, why)


def test_an_interrupted_down_of_the_whole_cluster_converges_on_the_next_down(small: HybridLab) -> None:
    """down of the whole cluster, interrupted at a random step, then down again: no cluster is left, every
    Linux host is reset (no route, bridge, forward rule or hybridctl file), every Windows host keeps no
    service, HNS network or route, and a third down changes nothing."""
    why = _interrupted(small, "down")
    result = small.hybridctl("down", "--yes", "--output", "json")
    assert result.returncode == 0, f"{why}\n{result.stderr}{result.stdout[-3000:]}"
    assert_every_host_clean(small, why)
    again = small.hybridctl("down", "--yes", "--output", "json")
    assert again.returncode == 0, f"{why}\n{again.stderr}"
    assert changed_steps(again.stdout) == [], why
