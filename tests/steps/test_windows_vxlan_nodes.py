"""vxlan mode's Windows steps through the real Runner and WinRMTransport against simulated Windows hosts.

Tier: winrm contract. Real: the Runner, the steps, pypsrp over HTTPS with a test CA, the WinRM protocol,
HTTP downloads from a loopback mirror with sha256 checks, host-local (Debian's build of the plugin the
Windows node runs) reserving the source VIP, the upstream validators the agents' files must pass.
Emulated: the Windows hosts; flanneld.exe from flannel's own Windows code (tests/support/winrm/
windows_flanneld.py: flag set, vxlan_windows.go checks, ensureNetwork, non-persistent network, lease
annotations); kube-proxy's refusal of an Overlay network without ``sourceVip`` (winkernel proxier.go); the
control plane (ClusterModel behind a fake transport).
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from hybridctl.inventory.models import Cluster
from hybridctl.steps.windows import FINISH, JOIN, NETWORK, PREPARE, teardown
from tests.lab.windows_sim.testbed import Testbed
from tests.steps.test_windows_steps import changes, failures
from tests.steps.windows_fixtures import machine_snapshot
from tests.support.winrm.machine import WindowsMachine

ALL = [*PREPARE, *JOIN, *NETWORK, *FINISH]
OVERLAY = "flannel.4096"
STORE = "c:\\var\\lib\\cni\\networks\\flannel.4096\\"


def _source_vip(machine: WindowsMachine) -> str:
    config = machine.read_file("C:\\k\\kube-proxy-config.yaml").decode()
    return next(
        line.split(":", 1)[1].strip().strip('"') for line in config.splitlines() if "sourceVip" in line
    )


def _node_state(testbed: Testbed, name: str) -> None:
    """What a vxlan Windows node has after up, as the admin would check it on the node and in the API."""
    machine = testbed.nodes[name].host.machine
    node = testbed.model.nodes()[name]
    cidr = node["podCIDR"]
    network = machine.hns_networks[OVERLAY]
    assert (str(network["type"]).lower(), network["addressPrefix"]) == ("overlay", cidr)
    assert "cbr0" not in machine.hns_networks and machine.routes == []
    assert {s: machine.services[s].status for s in ("flanneld", "kubelet", "kube-proxy")} == dict.fromkeys(
        ("flanneld", "kubelet", "kube-proxy"), "Running"
    )
    assert node["ready"]
    backend = json.loads(node["annotations"]["flannel.alpha.coreos.com/backend-data"])
    assert backend["VNI"] == 4096 and node["annotations"]["flannel.alpha.coreos.com/public-ip"] == (
        testbed.nodes[name].address
    )
    vip = _source_vip(machine)
    assert ipaddress.ip_address(vip) in ipaddress.ip_network(cidr)
    assert machine.has_file(STORE + vip), "the source VIP is reserved in host-local's store"
    for plugin in ("flannel.exe", "sdnoverlay.exe", "host-local.exe"):
        assert machine.has_file("C:\\opt\\cni\\bin\\" + plugin), plugin
    assert machine.has_file("C:\\etc\\cni\\net.d\\10-flannel.conf")
    assert not machine.has_file("C:\\etc\\cni\\net.d\\10-cbr0.conf")
    inbound = machine.firewall_rules["hybridctl-vxlan-in"]
    assert (inbound["protocol"], str(inbound["localPort"])) == ("UDP", "4789"), inbound


def test_vxlan_nodes_converge_on_flanneld_overlay_and_a_second_run_changes_nothing(
    vxlan_testbed: Testbed,
) -> None:
    """Each node ends with flanneld running, the Overlay network flannel.4096 on its own pod CIDR (built
    by the emulated flanneld from the files hybridctl installed, judged by flannel's rules), no routes, the
    source VIP reserved and in kube-proxy's config, UDP 4789 open, the Node Ready with flannel's lease
    annotations. A second run plans and changes nothing."""
    report, _ = vxlan_testbed.run(vxlan_testbed.steps(ALL))
    assert not failures(report), failures(report)
    cidrs = {n: o["podCIDR"] for n, o in vxlan_testbed.model.nodes().items()}
    assert cidrs["win1"] != cidrs["win2"]
    for name in ("win1", "win2"):
        _node_state(vxlan_testbed, name)

    before = {n: machine_snapshot(node.host) for n, node in vxlan_testbed.nodes.items()}
    again, _ = vxlan_testbed.run(vxlan_testbed.steps(ALL))
    assert not failures(again) and changes(again) == []
    assert {n: machine_snapshot(node.host) for n, node in vxlan_testbed.nodes.items()} == before


def test_after_a_reboot_the_boot_task_brings_back_the_overlay_and_the_same_source_vip(
    vxlan_testbed: Testbed,
) -> None:
    """The overlay network is non-persistent: a reboot removes it. The boot task starts flanneld, which
    creates it again; kube-proxy starts after it with the same source VIP (host-local's store survives),
    and the next run has nothing to change."""
    report, _ = vxlan_testbed.run(vxlan_testbed.steps(ALL))
    assert not failures(report), failures(report)
    machine = vxlan_testbed.nodes["win1"].host.machine
    vip = _source_vip(machine)
    machine.power_cycle()
    assert machine.extra.get("bootErrors", []) == []
    _node_state(vxlan_testbed, "win1")
    assert _source_vip(machine) == vip
    again, _ = vxlan_testbed.run(vxlan_testbed.steps(ALL))
    assert not failures(again) and changes(again) == []


def test_a_wrong_overlay_is_replaced_and_down_removes_flannel_from_the_node(vxlan_testbed: Testbed) -> None:
    """An overlay network on another prefix (a node that got a new pod CIDR) is reported and replaced by
    restarting flanneld; ``down`` removes flanneld, the overlay network, its IPAM store and subnet file,
    and a second ``down`` changes nothing."""
    report, _ = vxlan_testbed.run(vxlan_testbed.steps(ALL))
    assert not failures(report), failures(report)
    machine = vxlan_testbed.nodes["win1"].host.machine
    machine.hns_networks[OVERLAY]["addressPrefix"] = "10.244.250.0/24"
    plan, _ = vxlan_testbed.run(vxlan_testbed.steps(ALL), read_only=True, hosts=["win1"])
    planned = [(h, s) for h, s, _ in changes(plan)]
    assert planned == [("win1", "windows-flannel")], changes(plan)
    fixed, _ = vxlan_testbed.run(vxlan_testbed.steps(ALL), hosts=["win1"])
    assert not failures(fixed), failures(fixed)
    _node_state(vxlan_testbed, "win1")

    down, _ = vxlan_testbed.run(teardown(False), hosts=["win1"])
    assert not failures(down), failures(down)
    assert set(machine.services) == set()
    assert machine.hns_networks == {} and machine.hns_endpoints == {}
    leftovers = ("c:\\run\\flannel", "c:\\var\\lib\\cni", "c:\\etc\\kube-flannel", "c:\\k")
    assert not [f for f in machine.files if f.startswith(leftovers)]
    again, _ = vxlan_testbed.run(teardown(False), hosts=["win1"])
    assert changes(again) == []


def test_planning_a_node_that_has_not_joined_yet_reports_the_overlay_to_come(vxlan_testbed: Testbed) -> None:
    """``add-node``'s plan on a running vxlan cluster: the new node has no pod CIDR yet (it registers
    during the apply), so windows-flannel and windows-source-vip say what will happen instead of failing."""
    report, _ = vxlan_testbed.run(vxlan_testbed.steps(ALL), hosts=["win1"])
    assert not failures(report), failures(report)
    plan, _ = vxlan_testbed.run(vxlan_testbed.steps(ALL), read_only=True, hosts=["win2"])
    assert not failures(plan), failures(plan)
    planned = {s: c for h, s, c in changes(plan) if h == "win2"}
    assert "flanneld creates the overlay network once the node has a pod CIDR" in planned["windows-flannel"]
    assert planned["windows-source-vip"] == ["reserve kube-proxy's source VIP once the node has a pod CIDR"]


def _in_mode(cluster: Cluster, mode: str) -> Cluster:
    network = cluster.spec.network.model_copy(update={"mode": mode})
    return cluster.model_copy(update={"spec": cluster.spec.model_copy(update={"network": network})})


@pytest.mark.parametrize(
    ("built", "switched", "shown"),
    [("routes", "vxlan", "10-cbr0.conf"), ("vxlan", "routes", "10-flannel.conf")],
)
def test_a_node_built_in_the_other_network_mode_is_refused_before_anything_changes(
    request: pytest.FixtureRequest, built: str, switched: str, shown: str
) -> None:
    """Both nodes converged in one mode, then the inventory says the other: windows-preflight refuses
    win1, naming the file that shows its pod network and saying a switch is not supported, and the machine
    is left exactly as it was (no overlay added next to cbr0, no routes-mode network next to the overlay)."""
    bed: Testbed = request.getfixturevalue("testbed" if built == "routes" else "vxlan_testbed")
    report, _ = bed.run(bed.steps(ALL))
    assert not failures(report), failures(report)
    host = bed.nodes["win1"].host
    before = machine_snapshot(host)
    bed.cluster = _in_mode(bed.cluster, switched)
    refused, _ = bed.run(bed.steps(ALL), hosts=["win1"])
    error = next(str(r.error) for r in refused.results if (r.host, r.step) == ("win1", "windows-preflight"))
    assert f"the node runs the {built} pod network" in error and shown in error, error
    assert "switching an existing cluster between routes and vxlan is not supported" in error
    assert machine_snapshot(host) == before
