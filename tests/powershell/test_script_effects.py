"""The simulated Windows host does what a step script's calls do, not what the script's name promises.

Issue 14, "the lab asserts outcomes": every non-network step script is run twice on a fresh simulated host,
once as shipped and once with one planted bug, and the machine state afterwards is compared. The shipped
script leaves the effect, the planted one leaves the trace Windows would show (a path still there, a
feature not installed, a stopped dependent, a file readable by BUILTIN\\Users, a task that does not run at
boot, a service left behind by reset).

Tier: winrm contract. Real: hybridctl's packaged scripts, parsed with tree-sitter-powershell; which calls
they make and with which arguments decides every effect (tests/support/winrm/script_calls.py). Simulated:
the Windows host's file system, features, service manager, ACLs and Task Scheduler
(tests/support/winrm), following the cited Windows behaviour in each handler's docstring.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hybridctl.resources import powershell_script
from hybridctl.steps.windows.windows_source_vip import CONTAINER_ID, HOST_LOCAL, STORE, request, reservation
from tests.support.ci import require_tool
from tests.support.winrm import Service, SimulatedWindowsHost
from tests.support.winrm.host import ScriptError
from tests.support.winrm.windows_boot import _Sink
from tests.support.winrm.windows_handlers import register_windows

USERS = "S-1-5-32-545"
CONTAINERD_CONFIG = (
    Path(__file__).parents[1]
    / "golden"
    / "example"
    / "win1"
    / "C"
    / "Program Files"
    / "containerd"
    / "config.toml"
)
NSSM = "C:\\Program Files\\nssm\\nssm.exe"
KUBELET = "C:\\k\\kubelet.exe"


@dataclass
class Case:
    """One script, one planted bug, and what each version leaves on the machine."""

    script: str
    old: str
    new: str
    params: dict[str, Any]
    outcome: Callable[[SimulatedWindowsHost], object]
    shipped: object
    planted: object
    setup: Callable[[SimulatedWindowsHost], None] = field(default=lambda host: None)


def _run(host: SimulatedWindowsHost, text: str, params: dict[str, Any]) -> str:
    """Run a script text; the error message ("" when it succeeded)."""
    try:
        host.run(text, params, _Sink(), threading.Event())
    except ScriptError as exc:
        return exc.message
    return ""


def _tree(host: SimulatedWindowsHost) -> None:
    host.machine.write_file("C:\\k\\old\\bin\\tool.exe", b"MZ")


def _artifact(host: SimulatedWindowsHost) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("bin/tool.exe", date_time=(2026, 1, 1, 0, 0, 0)), b"MZ tool")
    host.machine.write_file("C:\\k\\downloads\\tool.zip", buffer.getvalue())


def _artifact_params() -> dict[str, Any]:
    host = SimulatedWindowsHost()
    _artifact(host)
    digest = hashlib.sha256(host.machine.read_file("C:\\k\\downloads\\tool.zip")).hexdigest()
    return {
        "Name": "tool",
        "Source": "C:\\k\\downloads\\tool.zip",
        "Url": "http://127.0.0.1/tool.zip",
        "Sha256": digest,
        "Destination": "C:\\k\\tool",
        "Files": ["bin/tool.exe"],
        "Names": ["tool.exe"],
        "RecordPath": "C:\\k\\hybridctl\\artifacts.json",
        "PathEntry": "C:\\k\\tool",
    }


def _services(host: SimulatedWindowsHost) -> None:
    machine = host.machine
    machine.services["agent"] = Service("agent", NSSM, status="Running")
    machine.services["proxy"] = Service("proxy", NSSM, status="Running", depends_on=["agent"])


def _nssm_files(host: SimulatedWindowsHost) -> None:
    host.machine.write_file(NSSM, b"MZ nssm")
    host.machine.write_file(KUBELET, b"MZ kubelet")


def _containerd(host: SimulatedWindowsHost) -> None:
    host.machine.write_file("C:\\Program Files\\containerd\\containerd.exe", b"MZ containerd")
    host.machine.write_file("C:\\Program Files\\containerd\\config.toml", CONTAINERD_CONFIG.read_bytes())


def _installed_node(host: SimulatedWindowsHost) -> None:
    machine = host.machine
    _nssm_files(host)
    machine.services["kubelet"] = Service("kubelet", NSSM, status="Running")
    machine.scheduled_tasks["hybridctl-boot"] = {"trigger": "MSFT_TaskBootTrigger"}
    machine.machine_path += ";C:\\k"


NSSM_PARAMS = {
    "Nssm": NSSM,
    "Name": "kubelet",
    "DisplayName": "kubelet",
    "Application": KUBELET,
    "AppParameters": "--config=C:\\var\\lib\\kubelet\\config.yaml",
    "DependOnService": ["containerd"],
    "Stdout": "C:\\var\\log\\kubelet\\kubelet.log",
    "Stderr": "C:\\var\\log\\kubelet\\kubelet.err.log",
}

CASES = {
    "remove-paths without -Recurse fails on a directory with children": Case(
        "win/remove-paths",
        "Remove-Item -LiteralPath $path -Recurse -Force",
        "Remove-Item -LiteralPath $path -Force",
        {"Paths": ["C:\\k\\old"]},
        lambda host: host.machine.exists("C:\\k\\old\\bin\\tool.exe"),
        shipped=False,
        planted=True,
        setup=_tree,
    ),
    "create-directories making files makes no directory": Case(
        "win/create-directories",
        "New-Item -ItemType Directory -Path $path",
        "New-Item -ItemType File -Path $path",
        {"Paths": ["C:\\k\\new"]},
        lambda host: "c:\\k\\new" in host.machine.directories,
        shipped=True,
        planted=False,
    ),
    "install-features installing a constant installs nothing it loops over": Case(
        "win/install-features",
        "$result = Install-WindowsFeature -Name $name",
        "$result = Install-WindowsFeature -Name $Names",
        {"Names": ["Containers"]},
        lambda host: host.machine.feature_states.get("Containers"),
        shipped="InstallPending",
        planted=None,
    ),
    "install-artifact without the PATH write leaves PATH alone": Case(
        "win/install-artifact",
        "[Environment]::SetEnvironmentVariable('Path', (($entries + $PathEntry) -join ';'), 'Machine')",
        "Write-Output (($entries + $PathEntry) -join ';')",
        _artifact_params(),
        lambda host: (
            host.machine.has_file("C:\\k\\tool\\tool.exe"),
            "C:\\k\\tool" in host.machine.machine_path,
        ),
        shipped=(True, True),
        planted=(True, False),
        setup=_artifact,
    ),
    "containerd-service without Start-Service leaves containerd stopped": Case(
        "win/containerd-service",
        "    Start-Service -Name 'containerd'\n",
        "",
        {
            "Exe": "C:\\Program Files\\containerd\\containerd.exe",
            "Pipe": "\\\\.\\pipe\\containerd-containerd",
        },
        lambda host: host.machine.services["containerd"].status,
        shipped="Running",
        planted="Stopped",
        setup=_containerd,
    ),
    "service-control restart without restarting dependents leaves kube-proxy stopped": Case(
        "win/service-control",
        "        Start-Service -Name $dependent\n",
        "        Write-Output $dependent\n",
        {"Name": "agent", "Action": "restart"},
        lambda host: host.machine.services["proxy"].status,
        shipped="Running",
        planted="Stopped",
        setup=_services,
    ),
    "nssm-service without 'set AppStdout' keeps no log path": Case(
        "win/nssm-service",
        "Invoke-Nssm -Arguments @('set', $Name, 'AppStdout', $Stdout)\n",
        "",
        NSSM_PARAMS,
        lambda host: (
            host.machine.services["kubelet"].parameters.get("AppStdout"),
            host.machine.services["kubelet"].depends_on,
        ),
        shipped=("C:\\var\\log\\kubelet\\kubelet.log", ["containerd"]),
        planted=(None, ["containerd"]),
        setup=_nssm_files,
    ),
    "protect-paths keeping inheritance leaves the file readable by Users": Case(
        "win/protect-paths",
        "$acl.SetAccessRuleProtection($true, $false)",
        "$acl.SetAccessRuleProtection($false, $false)",
        {"Paths": ["C:\\k\\old\\bin\\tool.exe"]},
        lambda host: any(
            r.startswith(USERS) for r in host.machine.effective_acl("C:\\k\\old\\bin\\tool.exe")["rules"]
        ),
        shipped=False,
        planted=True,
        setup=_tree,
    ),
    "boot-task with a logon trigger makes no boot task": Case(
        "win/boot-task",
        "New-ScheduledTaskTrigger -AtStartup",
        "New-ScheduledTaskTrigger -AtLogOn",
        {"TaskName": "hybridctl-boot", "Execute": "powershell.exe", "Arguments": '-File "C:\\k\\boot.ps1"'},
        lambda host: host.machine.scheduled_tasks["hybridctl-boot"]["trigger"],
        shipped="MSFT_TaskBootTrigger",
        planted="MSFT_TaskLogonTrigger",
    ),
    "reset without Unregister-ScheduledTask and the PATH write leaves both": Case(
        "win/reset",
        "        Unregister-ScheduledTask -TaskName $name -Confirm:$false\n",
        "",
        {
            "Nssm": NSSM,
            "NssmServices": ["kubelet"],
            "TaskNames": ["hybridctl-boot"],
            "PathEntries": ["C:\\k"],
        },
        lambda host: (sorted(host.machine.services), sorted(host.machine.scheduled_tasks)),
        shipped=([], []),
        planted=([], ["hybridctl-boot"]),
        setup=_installed_node,
    ),
    "reset without nssm remove leaves the kubelet service registered": Case(
        "win/reset",
        "        & $Nssm remove $name confirm | Out-Null\n",
        "        Write-Output $name\n",
        {"Nssm": NSSM, "NssmServices": ["kubelet"]},
        lambda host: (
            sorted(host.machine.services),
            host.machine.services.get("kubelet", Service("")).status,
        ),
        shipped=([], "Stopped"),
        planted=(["kubelet"], "Stopped"),
        setup=_installed_node,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_planted_script_bug_leaves_its_trace_on_the_simulated_host(name: str) -> None:
    case = CASES[name]
    shipped = powershell_script(case.script)
    assert case.old in shipped, f"{case.old!r} is no longer in {case.script}: update the planted bug"
    for text, expected in ((shipped, case.shipped), (shipped.replace(case.old, case.new), case.planted)):
        host = SimulatedWindowsHost()
        register_windows(host.scripts)
        case.setup(host)
        error = _run(host, text, dict(case.params))
        if text == shipped:
            assert error == "", error
        assert case.outcome(host) == expected, (text == shipped, error)


def test_remove_paths_without_recurse_fails_as_a_non_interactive_session_does() -> None:
    """Without -Recurse, Remove-Item asks for confirmation before removing a directory with children; a
    remote (non-interactive) session cannot answer, so the script fails and the directory stays."""
    text = powershell_script("win/remove-paths").replace(" -Recurse -Force", " -Force")
    host = SimulatedWindowsHost()
    register_windows(host.scripts)
    _tree(host)
    error = _run(host, text, {"Paths": ["C:\\k\\old"]})
    assert "has children and the Recurse parameter was not specified" in error
    assert host.machine.exists("C:\\k\\old\\bin\\tool.exe")


def test_install_artifact_records_what_it_installed() -> None:
    """The shipped install-artifact writes its record (Out-File -LiteralPath $RecordPath) with the hash of
    the installed file; without that write the record is missing."""
    shipped = powershell_script("win/install-artifact")
    old = "| Out-File -LiteralPath $RecordPath -Encoding ascii"
    assert old in shipped
    for text, recorded in ((shipped, True), (shipped.replace(old, "| Out-Null"), False)):
        host = SimulatedWindowsHost()
        register_windows(host.scripts)
        _artifact(host)
        assert _run(host, text, _artifact_params()) == ""
        machine = host.machine
        assert machine.has_file("C:\\k\\hybridctl\\artifacts.json") is recorded
        if recorded:
            record = json.loads(machine.read_file("C:\\k\\hybridctl\\artifacts.json"))
            digest = hashlib.sha256(b"MZ tool").hexdigest()
            assert record["tool"]["files"] == {"C:\\k\\tool\\tool.exe": digest}


def test_firewall_rules_come_from_the_calls_the_rendered_script_makes() -> None:
    """The rendered firewall.ps1 (golden example) creates its three rules and removes a stale hybridctl
    rule; with its stale-rule removal or its inbound New-NetFirewallRule planted away, the stale rule
    stays, or no inbound rule is created."""
    from tests.support.winrm.host import ScriptContext
    from tests.support.winrm.windows_net import run_firewall

    golden = Path(__file__).parents[1] / "golden" / "example" / "win1" / "C" / "k" / "hybridctl"
    shipped = (golden / "firewall.ps1").read_text(encoding="utf-8")
    keeps_stale = shipped.replace("        Remove-NetFirewallRule -Name $rule.Name\n", "")
    no_inbound = shipped.replace("-Direction Inbound -Action Allow -Protocol $Protocol -LocalPort $Port", "")
    assert len({shipped, keeps_stale, no_inbound}) == 3
    for text, rules in (
        (shipped, ["hybridctl-kube-proxy-health", "hybridctl-kubelet", "hybridctl-nodeports"]),
        (
            keeps_stale,
            ["hybridctl-kube-proxy-health", "hybridctl-kubelet", "hybridctl-nodeports", "hybridctl-old"],
        ),
        (no_inbound, []),
    ):
        host = SimulatedWindowsHost()
        host.machine.firewall_rules["hybridctl-old"] = {"name": "hybridctl-old"}
        run_firewall(ScriptContext(host, "run-file", {}, _Sink(), threading.Event()), text)
        left = sorted(host.machine.firewall_rules)
        assert left == rules, left


def test_source_vip_reserves_once_in_the_store_the_check_reads() -> None:
    """win/source-vip on the simulated host: the real host-local (Debian's build) allocates from the
    request and its store lands on the machine, where ``win/state``'s IpamStores (what the check reads)
    finds hybridctl's reservation; a second run is refused by host-local itself."""
    require_tool("host-local", "apt-get install containernetworking-plugins", ("/usr/lib/cni",))
    host = SimulatedWindowsHost()
    register_windows(host.scripts)
    host.machine.write_file(HOST_LOCAL, b"MZ host-local")
    params = {
        "HostLocal": HOST_LOCAL,
        "Request": request("10.244.5.0/24"),
        "ContainerId": CONTAINER_ID,
        "IfName": "source-vip",
        "CniPath": "C:\\opt\\cni\\bin",
    }
    script = powershell_script("win/source-vip")
    assert _run(host, script, params) == ""
    sink = _Sink()
    host.run(powershell_script("win/state"), {"IpamStores": [STORE]}, sink, threading.Event())
    state = json.loads(sink.lines[-1])
    assert reservation(state, "10.244.5.0/24") == "10.244.5.2"
    assert "duplicate allocation is not allowed" in _run(host, script, params)
