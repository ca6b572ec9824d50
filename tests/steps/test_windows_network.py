"""The Windows pod network against an HNS that answers as real hosts do, not as hybridctl posted.

Tier: winrm contract. Real: the Runner, the steps, pypsrp over HTTPS, the WinRM protocol, the rendered
``boot.ps1`` read through tree-sitter-powershell (its statements drive the simulated boot). Simulated: the
Windows hosts; their HNS model (tests/support/winrm/windows_hns.py) follows upstream evidence: a GET
reports ``l2bridge`` and an empty adapter (flannel-io/flannel#833), a reboot keeps network and endpoint
but detaches the endpoint (flannel-io/flannel#1391, #1858), adapters are named ``Ethernet0`` /
``Ethernet 2`` (microsoft/SDN#300), vNICs can be slow, a network with endpoints cannot be deleted.
"""

from __future__ import annotations

import time

from hybridctl.steps.windows import PREPARE, WindowsPodNetwork, teardown
from hybridctl.steps.windows.common import CONTAINERD_DATA, CRI_ENDPOINT, CRICTL_EXE
from tests.lab.windows_sim.testbed import Testbed
from tests.steps.test_windows_steps import ALL, changes, converge, failures
from tests.support.winrm import SimulatedWindowsHost
from tests.support.winrm.windows_hns import reported_network


def _pod_network_changes(testbed: Testbed, host: str) -> list[str]:
    plan, _ = testbed.run(testbed.steps([WindowsPodNetwork()]), read_only=True, hosts=[host])
    assert not failures(plan), failures(plan)
    return [c for _, step, found in changes(plan) if step == "windows-pod-network" for c in found]


def test_a_network_reported_as_l2bridge_without_adapter_is_healthy(testbed: Testbed) -> None:
    """Defect 1 (flannel-io/flannel#833; flannel hostgw_windows.go judges prefix and gateway only)."""
    converge(testbed)
    machine = testbed.nodes["win1"].host.machine
    assert reported_network(machine.hns_networks["cbr0"])["type"] == "l2bridge"
    assert reported_network(machine.hns_networks["cbr0"])["adapter"] == ""
    network_id = machine.hns_networks["cbr0"]["id"]
    created = len(machine.calls("win/hns-network"))
    assert _pod_network_changes(testbed, "win1") == []
    again, _ = testbed.run(testbed.steps(ALL))
    assert changes(again) == [] and not failures(again)
    assert machine.hns_networks["cbr0"]["id"] == network_id
    assert len(machine.calls("win/hns-network")) == created


def test_a_differing_network_with_pods_attached_is_refused_not_deleted(testbed: Testbed) -> None:
    """Defect 1: never delete a network in use; the step says to drain the node."""
    converge(testbed)
    machine = testbed.nodes["win1"].host.machine
    machine.hns_networks["cbr0"]["gateway"] = "10.244.200.1"
    machine.hns_endpoints["pod-a"] = {
        "id": "ep-a",
        "network": "cbr0",
        "ipAddress": "10.244.1.7",
        "attached": True,
    }
    report, _ = testbed.run(testbed.steps([WindowsPodNetwork()]), hosts=["win1"])
    assert "drain the node" in failures(report)
    assert "pod-a" in machine.hns_endpoints and machine.hns_networks["cbr0"]["gateway"] == "10.244.200.1"

    del machine.hns_endpoints["pod-a"]  # drained
    fixed, _ = testbed.run(testbed.steps([WindowsPodNetwork()]), hosts=["win1"])
    assert not failures(fixed), failures(fixed)
    assert machine.hns_networks["cbr0"]["gateway"] != "10.244.200.1"


def test_after_a_reboot_the_boot_task_reattaches_the_endpoint_and_the_node_is_ready(testbed: Testbed) -> None:
    """Defect 3: a reboot keeps cbr0 and cbr0_ep but detaches the endpoint (flannel-io/flannel#1391)."""
    converge(testbed)
    node = testbed.nodes["win1"]
    machine = node.host.machine
    hooks = list(machine.boot_hooks)
    machine.boot_hooks.clear()
    machine.power_cycle()  # without the boot task: the drift plan must show
    assert machine.hns_endpoints["cbr0_ep"]["attached"] is False
    assert any("attach host endpoint cbr0_ep" in c for c in _pod_network_changes(testbed, "win1"))

    machine.boot_hooks.extend(hooks)
    machine.power_cycle()  # what Task Scheduler does at startup: the rendered boot.ps1 runs
    assert machine.extra.get("bootErrors", []) == []
    assert machine.hns_endpoints["cbr0_ep"]["attached"] is True
    assert {machine.services[s].status for s in ("containerd", "kubelet", "kube-proxy")} == {"Running"}
    assert testbed.model.nodes()["win1"]["ready"]
    again, _ = testbed.run(testbed.steps(ALL))
    assert not failures(again) and changes(again) == []


def test_a_vnic_slower_than_ten_seconds_is_waited_for(testbed: Testbed) -> None:
    """Defect 5: poll for the management IP as flannel does (hostgw_windows.go), not a fixed sleep."""
    machine = testbed.nodes["win2"].host.machine
    machine.vnic_delay = 11.0
    started = time.monotonic()
    converge(testbed)
    assert time.monotonic() - started > 11.0
    assert "vEthernet (Ethernet)" in {a for a in _interfaces(machine)}


def _interfaces(machine):  # type: ignore[no-untyped-def]
    from tests.support.winrm.windows_hns import interfaces

    return interfaces(machine)


def test_preflight_refuses_an_adapter_the_inventory_does_not_name(testbed: Testbed) -> None:
    """Defect 4: HNS would fail with "An adapter was not found" (microsoft/SDN#300) long after."""
    machine = testbed.nodes["win1"].host.machine
    machine.adapters = {"Ethernet0": testbed.nodes["win1"].address}
    report, _ = testbed.run(testbed.steps(PREPARE[:1], with_cluster=False), read_only=True, hosts=["win1"])
    error = next(r.error for r in report.results if r.host == "win1")
    assert error is not None and "set interface: 'Ethernet0'" in error


def test_teardown_removes_pod_endpoints_before_the_network(testbed: Testbed) -> None:
    """Defect 6: HNS refuses to delete a network with endpoints (reference section 8.1 step 4-5)."""
    converge(testbed)
    machine = testbed.nodes["win1"].host.machine
    machine.hns_endpoints["pod-a"] = {
        "id": "ep-a",
        "network": "cbr0",
        "ipAddress": "10.244.1.7",
        "attached": True,
    }
    report, _ = testbed.run(teardown(False), hosts=["win1"])
    assert not failures(report), failures(report)
    assert machine.hns_networks == {} and machine.hns_endpoints == {}


def test_a_forced_restart_stops_dependents_as_windows_does() -> None:
    """The emulated service manager: Restart-Service -Force stops running dependents and leaves them
    stopped (a restart is a stop plus a start, winsw/winsw#400)."""
    from tests.support.winrm.machine import Service, WindowsMachine
    from tests.support.winrm.windows_kube import KubeSide

    machine = WindowsMachine()
    machine.services = {
        "a": Service("a", status="Running"),
        "b": Service("b", status="Running", depends_on=["a"]),
        "c": Service("c", status="Running", depends_on=["b"]),
    }
    assert KubeSide(None).restart_forced(machine, "a") == ["b", "c"]
    assert [machine.services[n].status for n in "abc"] == ["Running", "Stopped", "Stopped"]


def test_a_kubelet_only_change_leaves_kube_proxy_running(testbed: Testbed) -> None:
    """Defect 8: kube-proxy no longer depends on the kubelet service, so restarting the kubelet after a
    change of its files does not stop kube-proxy (Azure/AgentBaker#4882: fix the dependency)."""
    converge(testbed)
    machine = testbed.nodes["win1"].host.machine
    assert "kubelet" not in machine.services["kube-proxy"].depends_on
    config = "C:\\var\\lib\\kubelet\\config.yaml"
    machine.write_file(config, machine.read_file(config) + b"\n# edited by hand\n")
    calls = len(machine.history)
    report, _ = testbed.run(testbed.steps(ALL), hosts=["win1"])
    assert not failures(report), failures(report)
    run = machine.history[calls:]
    assert any(c.identity == "win/nssm-service" and c.parameters.get("Name") == "kubelet" for c in run)
    assert not any(c.parameters.get("Name") == "kube-proxy" for c in run if c.identity != "win/state")
    assert machine.services["kube-proxy"].status == "Running"


CREDENTIALS = (
    "C:\\var\\lib\\kubelet\\pki",
    "C:\\var\\lib\\kubelet\\pki\\kubelet-client-current.pem",
    "C:\\etc\\kubernetes\\kubelet.conf",
    "C:\\etc\\kubernetes\\bootstrap-kubelet.conf",  # gone after the join; would inherit if written again
    "C:\\k\\kube-proxy.kubeconfig",
)
USERS = "S-1-5-32-545"


def test_no_credential_is_readable_by_users_and_acl_drift_is_repaired(testbed: Testbed) -> None:
    """Defect 7: the emulated host records ACLs and inherits BUILTIN\\Users read from C:\\ as Windows does
    (Kubernetes documentation, Windows security: protect credential files with ACLs)."""
    machine = testbed.nodes["win1"].host.machine
    assert any(r.startswith(USERS) for r in machine.effective_acl("C:\\k\\anything")["rules"])
    converge(testbed)
    for path in CREDENTIALS:
        rules = machine.effective_acl(path)["rules"]
        assert not any(r.startswith(USERS) for r in rules), (path, rules)
        assert {r.split(":", 1)[0] for r in rules} == {"S-1-5-18", "S-1-5-32-544"}, (path, rules)

    del machine.acls["c:\\k"]  # someone reset C:\k to inherited permissions
    plan, _ = testbed.run(testbed.steps(ALL), read_only=True, hosts=["win1"])
    drift = [c for _, step, found in changes(plan) if step == "windows-credential-acls" for c in found]
    opened = f"restrict the ACL (also readable by {USERS})"
    assert drift == [f"{opened}: C:\\k", f"{opened}: C:\\k\\kube-proxy.kubeconfig"]
    again, _ = testbed.run(testbed.steps(ALL), hosts=["win1"])
    assert not failures(again), failures(again)
    assert not any(
        r.startswith(USERS) for r in machine.effective_acl("C:\\k\\kube-proxy.kubeconfig")["rules"]
    )


def _route(destination: str, store: str) -> dict[str, object]:
    return {
        "destinationPrefix": destination,
        "nextHop": "192.0.2.99",
        "routeMetric": 300,
        "interfaceAlias": "vEthernet (Ethernet)",
        "store": store,
    }


def test_planted_script_bugs_leave_their_traces_in_the_emulated_host() -> None:
    """Sensitivity of the emulation (issue 14, "the lab asserts outcomes"): effects come from the calls a
    script makes (tree-sitter syntax tree), so a routes.ps1 that no longer removes stale routes and a
    reset.ps1 that no longer calls Remove-NetRoute both leave the routes in the simulated host."""
    import threading
    from pathlib import Path

    from hybridctl.resources import powershell_script
    from tests.support.winrm import SimulatedWindowsHost
    from tests.support.winrm.host import ScriptContext
    from tests.support.winrm.windows_boot import _Sink
    from tests.support.winrm.windows_handlers import register_windows
    from tests.support.winrm.windows_net import NullRealiser, run_routes

    golden = (
        Path(__file__).parents[1] / "golden" / "example" / "win1" / "C" / "k" / "hybridctl" / "routes.ps1"
    )
    good = golden.read_text(encoding="utf-8")
    planted = good.replace("            $route | Remove-NetRoute -Confirm:$false\n", "")
    assert planted != good
    for text, stale_left in ((good, False), (planted, True)):
        host = SimulatedWindowsHost()
        host.machine.routes = [_route("10.244.250.0/24", s) for s in ("ActiveStore", "PersistentStore")]
        ctx = ScriptContext(host, "run-file", {}, _Sink(), threading.Event())
        run_routes(ctx, text, NullRealiser())
        left = [r for r in host.machine.routes if r["destinationPrefix"] == "10.244.250.0/24"]
        assert bool(left) is stale_left

    reset = powershell_script("win/reset")
    broken = reset.replace("                $route | Remove-NetRoute -Confirm:$false\n", "")
    assert broken != reset
    for script, kept in ((reset, 0), (broken, 2)):
        host = SimulatedWindowsHost()
        register_windows(host.scripts)
        host.machine.routes = [_route("10.244.3.0/24", s) for s in ("ActiveStore", "PersistentStore")]
        params = {"RouteInterface": "vEthernet (Ethernet)", "RoutePrefixes": ["10.244.3.0/24"]}
        host.run(script, params, _Sink(), threading.Event())
        assert len(host.machine.routes) == kept


def test_down_removes_pod_sandboxes_through_the_cri_before_the_network(testbed: Testbed) -> None:
    """Issue 14 item 6: crictl is installed beside containerd (sig-windows-tools Install-Containerd.ps1),
    and down runs ``crictl rmp --all --force`` while containerd still runs, as kubeadm reset removes every
    sandbox through the CRI: the pod's HNS endpoint goes with its sandbox (CNI DEL), and containerd's root,
    which a running pod keeps in use, can then be deleted. Emulated: the sandbox (its containers would run
    under containerd-shim-runhcs-v1 and survive the containerd service) and crictl's effect."""
    converge(testbed)
    machine = testbed.nodes["win1"].host.machine
    assert machine.has_file(CRICTL_EXE)
    machine.hns_endpoints["pod-a"] = {"id": "ep-a", "network": "cbr0", "ipAddress": "10.244.1.7"}
    machine.hns_endpoints["pod-a"]["attached"] = True
    machine.sandboxes["sandbox-a"] = {"endpoint": "pod-a"}
    machine.write_file(CONTAINERD_DATA + "\\root\\sandbox-a\\sandbox.vhdx", b"scratch")
    report, _ = testbed.run(teardown(False), hosts=["win1"])
    assert not failures(report), failures(report)
    assert machine.sandboxes == {} and machine.hns_endpoints == {} and machine.hns_networks == {}
    assert not machine.exists(CONTAINERD_DATA)


def test_a_reset_without_crictl_leaves_the_pods_running_and_fails() -> None:
    """Sensitivity: a reset.ps1 that no longer calls crictl stops the containerd service, but the pod
    keeps running (its shim outlives the daemon) and holds containerd's root: the reset fails naming the
    file in use, and the sandbox is still there; the shipped script removes it and succeeds."""
    import threading

    from hybridctl.resources import powershell_script
    from tests.support.winrm import Service, SimulatedWindowsHost
    from tests.support.winrm.host import ScriptError
    from tests.support.winrm.windows_boot import _Sink
    from tests.support.winrm.windows_handlers import register_windows

    reset = powershell_script("win/reset")
    start = reset.index("if ($criUp -and")
    broken = reset[:start] + reset[reset.index("if ($null -ne $containerd) {", start) :]
    assert "& $Crictl" in reset and "& $Crictl" not in broken
    for script, works in ((reset, True), (broken, False)):
        host = SimulatedWindowsHost()
        register_windows(host.scripts)
        machine = host.machine
        machine.services["containerd"] = Service("containerd", status="Running")
        machine.write_file(CRICTL_EXE, b"MZ crictl")
        machine.write_file(CONTAINERD_DATA + "\\root\\sandbox-a\\sandbox.vhdx", b"scratch")
        machine.sandboxes["sandbox-a"] = {"endpoint": "pod-a"}
        params = {
            "Crictl": CRICTL_EXE,
            "RuntimeEndpoint": CRI_ENDPOINT,
            "Directories": [CONTAINERD_DATA],
        }
        try:
            host.run(script, params, _Sink(), threading.Event())
            error = ""
        except ScriptError as exc:
            error = exc.message
        assert (machine.sandboxes == {}) is works, error
        assert ("being used by another process" in error) is not works, error


HNS_DEFINITION = {
    "Name": "cbr0",
    "Type": "L2Bridge",
    "AdapterName": "Ethernet",
    "AddressPrefix": "10.244.1.0/24",
    "Gateway": "10.244.1.1",
    "HostEndpoint": {"Name": "cbr0_ep", "IPAddress": "10.244.1.2"},
}


def _hns_run(host: SimulatedWindowsHost, script: str) -> dict[str, object]:
    """Run an hns-network script text on the simulated host; its JSON answer, or the error."""
    import json
    import threading

    from tests.support.winrm.host import ScriptError
    from tests.support.winrm.windows_boot import _Sink

    sink = _Sink()
    params = {
        "DefinitionPath": "C:\\k\\hybridctl\\hns-network.json",
        "InterfaceAlias": "vEthernet (Ethernet)",
    }
    try:
        host.run(script, params, sink, threading.Event())
    except ScriptError as exc:
        return {"error": exc.message}
    return dict(json.loads(sink.lines[-1]))


def _hns_host() -> SimulatedWindowsHost:
    import json

    from tests.support.winrm.windows_handlers import register_windows

    host = SimulatedWindowsHost()
    register_windows(host.scripts)
    host.machine.nic_rebinds = False
    host.machine.write_file("C:\\k\\hybridctl\\hns-network.json", json.dumps(HNS_DEFINITION).encode())
    return host


def test_hns_network_emulation_follows_the_script_not_its_name() -> None:
    """Issue 14 ("derived from the script's syntax tree"): the simulated win/hns-network realises what the
    script sent does (tests/support/winrm/windows_hns_script.py). Planted bugs leave their traces: a Type
    comparison made case-sensitive (-cne) recreates the healthy network that HNS reports as 'l2bridge'
    (flannel-io/flannel#833) on the next run; a script that attaches the host endpoint only when it
    creates it recreates the endpoint after every reboot (the reboot detaches it, flannel-io/flannel#1391);
    one that sleeps a fixed 10 s instead of polling fails on a vNIC that takes 12 s."""
    from hybridctl.resources import powershell_script

    good = powershell_script("win/hns-network")
    case_sensitive = good.replace(
        "if ($Network.Type -ne $Definition.Type)", "if ($Network.Type -cne $Definition.Type)"
    )
    attach_once = good.replace("\nConnect-HostEndpoint -Endpoint $endpoint\n", "\n")
    sleeping = good.replace(
        "$network = Wait-ManagementAddress -Network $network -Seconds $TimeoutSeconds",
        "Start-Sleep -Seconds 10",
    )
    assert len({good, case_sensitive, attach_once, sleeping}) == 4

    for script, recreated in ((good, False), (case_sensitive, True)):
        host = _hns_host()
        assert _hns_run(host, script)["networkCreated"] is True
        assert _hns_run(host, script)["networkCreated"] is recreated

    for script, recreated in ((good, False), (attach_once, True)):
        host = _hns_host()
        _hns_run(host, script)
        endpoint_id = host.machine.hns_endpoints["cbr0_ep"]["id"]
        host.machine.power_cycle()
        answer = _hns_run(host, script)
        assert answer["endpointCreated"] is recreated, answer
        assert host.machine.hns_endpoints["cbr0_ep"]["attached"]
        assert endpoint_id == host.machine.hns_endpoints["cbr0_ep"]["id"] or recreated

    host = _hns_host()
    host.machine.vnic_delay = 12.0
    assert "No MSFT_NetIPInterface" in str(_hns_run(host, sleeping).get("error"))
