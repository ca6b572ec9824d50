"""up, add-node and down end to end, through the real CLI, on a hybrid lab cluster.

Tier: lab (root). Real: the hybridctl CLI in a subprocess, sshd test hosts in network namespaces,
paramiko, pypsrp over HTTPS to WinRM endpoints inside the Windows hosts' namespaces, downloads with
sha256 checks from the lab mirror, kernel routes, bridges, iptables and the CNI plugins.
Simulated: Kubernetes binaries and systemd on the Linux hosts, the Windows OS, the control plane.
The scenario is one cluster built up step by step: the tests of this module run in order.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Iterator

import pytest
import yaml

from tests.lab.clean import assert_every_host_clean
from tests.lab.cluster_model import ModelError
from tests.lab.datapath import (
    CLIENT,
    WINDOWS_CNI,
    Pod,
    Pods,
    attach_linux,
    attach_windows,
    load_balancer,
    reachability,
    serve_on_node,
)
from tests.lab.e2e import HybridLab, WindowsNode, changed_steps, events, planned_changes
from tests.lab.linux_sim.lab import SimLab
from tests.lab.routes import assert_route_tables, linux_routes
from tests.support.winrm_fixtures import WinRMAccount, WinRMPki

pytestmark = [pytest.mark.root, pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def hybrid(
    sim_lab: SimLab,
    tmp_path_factory: pytest.TempPathFactory,
    winrm_pki: WinRMPki,
    winrm_account: WinRMAccount,
) -> Iterator[HybridLab]:
    """1 control plane, 2 Linux workers, 2 Windows workers (plus one more of each for add-node)."""
    sim_lab.reset_model()
    lab = HybridLab(sim_lab, tmp_path_factory.mktemp("hybrid"), winrm_pki, winrm_account)
    try:
        cp, lin1, lin2 = lab.add_linux(3)
        win1, win2 = lab.add_windows(2)
        lab.write_inventory(
            [(cp, "control-plane"), (lin1, "worker"), (lin2, "worker"), (win1, "worker"), (win2, "worker")]
        )
        yield lab
    finally:
        lab.close()
        sim_lab.reset_model()


def test_up_builds_the_hybrid_cluster(hybrid: HybridLab) -> None:
    result = hybrid.hybridctl("up", "--yes", "--accept-new-host-keys", "--output", "json")
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    nodes = hybrid.sim.model.nodes()
    assert len(nodes) == 5
    assert all(n["ready"] for n in nodes.values()), nodes
    planned, changed = set(planned_changes(result.stdout)), set(changed_steps(result.stdout))
    # Nothing changes that the plan did not show. A planned wait can find its work done when it re-checks
    # (the nodes became Ready while other hosts were still being configured).
    assert changed - planned == set()
    assert planned - changed <= {(hybrid.linux[0].name, "nodes-ready")}
    # The cluster objects exist in the API afterwards (not only in the plan): the RuntimeClass of the
    # Windows build with its build selector, the Windows taint and the OS label on every Windows node.
    document = hybrid.sim.model.read()
    runtime_class = document["objects"]["runtimeclasses"]["windows-2022"]
    assert runtime_class["handler"] == "runhcs-wcow-process"
    assert runtime_class["scheduling"]["nodeSelector"]["node.kubernetes.io/windows-build"] == "10.0.20348"
    for node in hybrid.windows:
        entry = nodes[node.name]
        assert {"key": "os", "value": "windows", "effect": "NoSchedule"} in entry["taints"], node.name
        assert entry["labels"]["kubernetes.io/os"] == "windows", node.name


def test_second_up_changes_nothing(hybrid: HybridLab) -> None:
    result = hybrid.hybridctl("up", "--yes", "--output", "json")
    assert result.returncode == 0, result.stderr
    assert planned_changes(result.stdout) == []
    assert changed_steps(result.stdout) == []


def test_an_old_one_for_all_hyperv_runtime_class_is_deleted_by_up(hybrid: HybridLab) -> None:
    """Issue 14 item 9 on a live cluster: an earlier hybridctl made one ``windows-hyperv`` RuntimeClass for
    every Windows build (labelled ``app.kubernetes.io/managed-by: hybridctl``). The plan shows its deletion
    with the DELETE mark, ``up`` deletes it from the (simulated) API, a RuntimeClass without hybridctl's
    label stays, and the next plan is empty."""
    model, cp = hybrid.sim.model, hybrid.linux[0].name
    scheduling = {
        "nodeSelector": {"kubernetes.io/os": "windows", "kubernetes.io/arch": "amd64"},
        "tolerations": [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
    }
    owned = {"app.kubernetes.io/managed-by": "hybridctl"}
    old = {"metadata": {"name": "windows-hyperv", "labels": owned}, "handler": "runhcs-wcow-hypervisor"}
    foreign = {"metadata": {"name": "windows-sandboxed"}, "handler": "runhcs-wcow-hypervisor"}
    model.put_object("runtimeclasses", "windows-hyperv", {**old, "scheduling": scheduling})
    model.put_object("runtimeclasses", "windows-sandboxed", {**foreign, "scheduling": scheduling})
    try:
        shown = hybrid.hybridctl("plan", "--detailed-exitcode")
        assert shown.returncode == 5, shown.stderr
        assert f"DELETE: {cp} will lose something" in shown.stdout, shown.stdout
        plan = hybrid.hybridctl("plan", "--detailed-exitcode", "--output", "json")
        assert planned_changes(plan.stdout) == [(cp, "cluster-objects")]
        (ends,) = [e for e in events(plan.stdout) if e["event"] == "step-end" and e["outcome"] == "changed"]
        assert [c for c in ends["changes"] if "RuntimeClass" in c] == [
            "delete RuntimeClass windows-hyperv "
            "(one Hyper-V class for every Windows build, replaced by windows-hyperv-<version>)"
        ]
        fixed = hybrid.hybridctl("up", "--yes", "--output", "json")
        assert fixed.returncode == 0, fixed.stderr + fixed.stdout[-3000:]
        assert changed_steps(fixed.stdout) == [(cp, "cluster-objects")]
        classes = model.objects("runtimeclasses")
        assert "windows-hyperv" not in classes and "windows-sandboxed" in classes
        assert classes["windows-2022"]["scheduling"]["nodeSelector"]["node.kubernetes.io/windows-build"]
        again = hybrid.hybridctl("plan", "--detailed-exitcode", "--output", "json")
        assert again.returncode == 0, planned_changes(again.stdout)
    finally:
        model.delete_object("runtimeclasses", "windows-sandboxed")


def _pods(hybrid: HybridLab, pods: Pods, suffix: str) -> None:
    for host in hybrid.linux:
        if host.name in hybrid.sim.model.nodes():
            attach_linux(pods, host, f"pod-{host.name}-{suffix}")
    for node in hybrid.windows:
        if node.name in hybrid.sim.model.nodes():
            attach_windows(pods, node, f"pod-{node.name}-{suffix}")


def test_ping_reports_linux_and_windows_facts(hybrid: HybridLab) -> None:
    result = hybrid.hybridctl("ping", "--output", "json")
    assert result.returncode == 0, result.stderr
    facts = {e["host"]: e for e in events(result.stdout) if e["event"] == "host-facts"}
    assert set(facts) == {h.name for h in hybrid.linux} | {n.name for n in hybrid.windows}
    win = facts[hybrid.windows[0].name]
    assert (win["os"], win["version"], win["admin"], win["problems"]) == ("windows", "10.0.20348", True, [])
    lin = facts[hybrid.linux[0].name]
    assert (lin["os"], lin["admin"], lin["problems"]) == ("linux", True, [])


def test_pods_on_every_node_reach_each_other_over_the_routes(hybrid: HybridLab) -> None:
    """Real packets between pods on every node. The first Linux host's FORWARD policy is DROP, as Docker
    leaves it: traffic crosses it only through hybridctl's FORWARD accept chain (flannel-io/flannel#1450)."""
    dropping = hybrid.linux[0].exec("iptables", "-w", "-t", "filter", "-S").stdout
    assert "-P FORWARD DROP" in dropping
    assert "-A FORWARD -j HYBRIDCTL-POD-FWD" in dropping
    pods = Pods()
    try:
        _pods(hybrid, pods, "a")
        assert len(pods.pods) == 5
        assert reachability(pods) == {}
    finally:
        pods.close()


def test_windows_pod_traffic_is_nated_only_outside_the_cluster(hybrid: HybridLab) -> None:
    """The rendered sdnbridge config's OutBoundNAT exceptions, realised as NAT rules in the emulated host's
    namespace (tests/lab/datapath.py): a Windows pod reaches a Linux pod with its own address (the pod
    subnet is an exception) and an address outside the cluster (the lab bridge's, in no exception) from
    the node's address. Real: packets, iptables; emulated: HNS/VFP applying the policy."""
    win, lin = hybrid.windows[0], hybrid.linux[1]
    pods = Pods()
    outside = socket.create_server((hybrid.sim.hosts.gateway, 0))
    peers: list[str] = []

    def answer_once() -> None:
        connection, peer = outside.accept()
        peers.append(peer[0])
        connection.sendall(b"outside")
        connection.close()

    try:
        windows_pod = attach_windows(pods, win, "pod-nat-w")
        linux_pod = attach_linux(pods, lin, "pod-nat-l")
        assert pods.answer(windows_pod, linux_pod) == f"{linux_pod.name} {windows_pod.address}"
        thread = threading.Thread(target=answer_once, daemon=True)
        thread.start()
        port = str(outside.getsockname()[1])
        assert (
            windows_pod.run("/usr/bin/python3", "-c", CLIENT, hybrid.sim.hosts.gateway, port).strip()
            == "outside"
        )
        thread.join(10)
        assert peers == [win.address]
    finally:
        outside.close()
        pods.close()


def test_windows_pods_reach_their_node_and_services_only_through_sdnroute_policies(
    hybrid: HybridLab,
) -> None:
    """The rendered sdnbridge config's SDNRoute policies, realised as HNS applies them to an l2bridge
    endpoint (tests/lab/datapath.py ``realise_sdn_routes``): a pod attached with them reaches a server on
    its own node's address and a Service VIP load-balanced on its host to a Linux pod. A pod attached
    with a plausible wrong config (the node-IP route naming another node, the service route naming the
    pod subnet) reaches neither, while its neighbour still does: a wrong policy breaks the data path.
    Real: packets, iptables, the CNI bridge plugin; emulated: HNS/VFP applying the policies and
    kube-proxy's load balancer for the VIP (a DNAT on the Windows host)."""
    win, lin = hybrid.windows[0], hybrid.linux[1]
    machine = win.simulated.machine
    rendered_text = machine.read_file(WINDOWS_CNI)
    vip = str(ipaddress.ip_network(win.service_subnet)[4242])
    pods = Pods()
    try:
        node = serve_on_node(pods, win, f"node-{win.name}")
        backend = attach_linux(pods, lin, "pod-svc-l")
        good = attach_windows(pods, win, "pod-sdn-ok")
        load_balancer(pods, win, vip, backend)
        service = Pod("service", win.name, vip, [])
        assert pods.reach(good, node) == node.name
        assert pods.answer(good, service) == f"{backend.name} {good.address}"
        wrong = json.loads(rendered_text)
        other = next(n.address for n in hybrid.windows if n is not win)
        for arg in wrong["AdditionalArgs"]:
            settings = arg["Value"]["Settings"]
            if arg["Value"]["Type"] == "SDNRoute" and settings["DestinationPrefix"] == f"{win.address}/32":
                settings["DestinationPrefix"] = f"{other}/32"
            elif arg["Value"]["Type"] == "SDNRoute":
                settings["DestinationPrefix"] = wrong["ipam"]["subnet"]
        machine.write_file(WINDOWS_CNI, json.dumps(wrong).encode())
        broken = attach_windows(pods, win, "pod-sdn-bad")
        assert pods.reach(broken, node).startswith("error"), "the node answered without a route policy"
        assert pods.reach(broken, service).startswith("error"), "the VIP answered without a route policy"
        assert pods.reach(good, node) == node.name and pods.reach(good, service) == backend.name
    finally:
        machine.write_file(WINDOWS_CNI, rendered_text)
        pods.close()


def test_every_node_routes_to_every_other_pod_cidr_and_no_other(hybrid: HybridLab) -> None:
    assert_route_tables(hybrid)


def test_a_route_deleted_by_hand_is_planned_and_restored(hybrid: HybridLab) -> None:
    lin1, win1 = hybrid.linux[1], hybrid.windows[0]
    win1_cidr = hybrid.sim.model.nodes()[win1.name]["podCIDR"]
    lin1.exec("ip", "route", "del", win1_cidr)
    pods = Pods()
    try:
        source, target = attach_linux(pods, lin1, "pod-drift-l"), attach_windows(pods, win1, "pod-drift-w")
        assert pods.reach(source, target).startswith("error")
        plan = hybrid.hybridctl("plan", "--detailed-exitcode", "--output", "json")
        assert plan.returncode == 5, plan.stderr
        assert planned_changes(plan.stdout) == [(lin1.name, "linux-pod-network")]
        unconfirmed = hybrid.hybridctl("up")  # no terminal to answer and no --yes: refused, nothing changes
        assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
        assert win1_cidr not in linux_routes(lin1)
        fixed = hybrid.hybridctl("up", "--yes", "--output", "json")
        assert fixed.returncode == 0, fixed.stderr
        assert changed_steps(fixed.stdout) == [(lin1.name, "linux-pod-network")]
        assert pods.reach(source, target) == target.name
    finally:
        pods.close()


def test_windows_drift_is_planned_and_repaired_through_the_cli(hybrid: HybridLab) -> None:
    """Drift made on an emulated Windows host behind WinRM: a route gone (route store and kernel), a
    firewall rule removed, the host endpoint detached (a reboot without the boot task, flannel-io/flannel
    #1391), kube-proxy stopped. ``plan --detailed-exitcode`` exits 5 naming the steps, ``up`` repairs
    all of it through the CLI, and the next plan exits 0."""
    win = hybrid.windows[0]
    machine = win.simulated.machine
    route = next(r for r in machine.routes if r["store"] == "ActiveStore")
    machine.routes.remove(route)
    win.lab_host.realiser.remove_route(route["destinationPrefix"], route["nextHop"])
    del machine.firewall_rules[next(n for n in machine.firewall_rules if n.startswith("hybridctl-"))]
    machine.hns_endpoints["cbr0_ep"]["attached"] = False
    machine.services["kube-proxy"].status = "Stopped"

    plan = hybrid.hybridctl("plan", "--detailed-exitcode", "--output", "json")
    assert plan.returncode == 5, plan.stderr
    steps = {step for host, step in planned_changes(plan.stdout) if host == win.name}
    assert {"windows-firewall", "windows-pod-network", "windows-kube-proxy"} <= steps, steps
    fixed = hybrid.hybridctl("up", "--yes", "--output", "json")
    assert fixed.returncode == 0, fixed.stderr + fixed.stdout[-3000:]
    again = hybrid.hybridctl("plan", "--detailed-exitcode", "--output", "json")
    assert again.returncode == 0, planned_changes(again.stdout)
    assert machine.hns_endpoints["cbr0_ep"]["attached"] and machine.services["kube-proxy"].status == "Running"
    assert_route_tables(hybrid)


def test_kube_proxy_token_rotation_replaces_the_secret_and_every_kubeconfig(hybrid: HybridLab) -> None:
    """Issue 14 defect 7: ``up --rotate-kube-proxy-token`` replaces the never-expiring token: the old one
    is no longer accepted by the (simulated) API, every Windows node's kube-proxy.kubeconfig carries the
    new one, kube-proxy runs with it, the old token never shows in the output, the next plan is empty."""

    def token(node: WindowsNode) -> str:
        kubeconfig = yaml.safe_load(node.simulated.machine.read_file("C:\\k\\kube-proxy.kubeconfig"))
        return str(kubeconfig["users"][0]["user"]["token"])

    (old,) = {token(n) for n in hybrid.windows}
    plan = hybrid.hybridctl("plan", "--detailed-exitcode", "--output", "json")
    assert plan.returncode == 0, planned_changes(plan.stdout)
    result = hybrid.hybridctl("up", "--yes", "--rotate-kube-proxy-token", "--output", "json")
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    assert old not in result.stdout + result.stderr
    (new,) = {token(n) for n in hybrid.windows}
    assert new != old
    assert hybrid.sim.model.check_sa_token(new) == "kube-system/kube-proxy"
    with pytest.raises(ModelError):
        hybrid.sim.model.check_sa_token(old)
    assert all(n.simulated.machine.services["kube-proxy"].status == "Running" for n in hybrid.windows)
    again = hybrid.hybridctl("plan", "--detailed-exitcode", "--output", "json")
    assert again.returncode == 0, planned_changes(again.stdout)


def test_add_node_joins_new_hosts_and_only_adds_routes_elsewhere(hybrid: HybridLab) -> None:
    existing = {h.name for h in hybrid.linux} | {n.name for n in hybrid.windows}
    (lin3,) = hybrid.add_linux(1)
    (win3,) = hybrid.add_windows(1)
    members = [(hybrid.linux[0], "control-plane"), *((h, "worker") for h in hybrid.linux[1:])]
    hybrid.write_inventory([*members, *((n, "worker") for n in hybrid.windows)])
    result = hybrid.hybridctl(
        "add-node", lin3.name, win3.name, "--yes", "--accept-new-host-keys", "--output", "json"
    )
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    cp = hybrid.linux[0].name
    allowed = {"linux-pod-network", "windows-pod-network"}
    cluster_steps = {"pod-cidrs", "cluster-objects", "nodes-ready", "join-cleanup"}
    for host, step in changed_steps(result.stdout):
        if host in existing:
            assert step in allowed or (host == cp and step in cluster_steps), (host, step)
    touched_existing = {h for h, s in changed_steps(result.stdout) if h in existing and s in allowed}
    assert touched_existing == existing
    nodes = hybrid.sim.model.nodes()
    assert {lin3.name, win3.name} <= set(nodes) and all(n["ready"] for n in nodes.values())
    assert not hybrid.sim.model.tokens() or all(
        t["description"] != "hybridctl join token" for t in hybrid.sim.model.tokens().values()
    )
    assert_route_tables(hybrid)
    pods = Pods()
    try:
        _pods(hybrid, pods, "b")
        assert len(pods.pods) == 7
        assert reachability(pods) == {}
    finally:
        pods.close()


def test_down_one_node_removes_it_and_its_routes_everywhere(hybrid: HybridLab) -> None:
    win2 = hybrid.windows[1]
    gone_cidr = hybrid.sim.model.nodes()[win2.name]["podCIDR"]
    result = hybrid.hybridctl("down", win2.name, "--yes", "--output", "json")
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    assert win2.name not in hybrid.sim.model.nodes()
    machine = win2.simulated.machine
    assert set(machine.services) == set()
    assert machine.hns_networks == {} and machine.routes == []
    assert not [n for n in machine.firewall_rules if n.startswith("hybridctl-")]
    assert machine.feature_states["Containers"] == "Installed", "features stay without --purge"
    assert_route_tables(hybrid)
    assert all(gone_cidr not in linux_routes(h) for h in hybrid.linux)
    pods = Pods()
    try:
        _pods(hybrid, pods, "c")
        assert len(pods.pods) == 6
        assert reachability(pods) == {}
    finally:
        pods.close()


def test_down_of_the_whole_cluster_leaves_every_host_clean(hybrid: HybridLab) -> None:
    result = hybrid.hybridctl("down", "--yes", "--output", "json")
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    assert_every_host_clean(hybrid)
    again = hybrid.hybridctl("down", "--yes", "--output", "json")
    assert again.returncode == 0, again.stderr
    assert changed_steps(again.stdout) == []
