"""The constant PowerShell scripts of the Windows steps, and the simulator's strictness about them.

Tier: unit (tree-sitter-powershell parses every script; nothing runs on Windows) and winrm contract (the
simulated host refuses unknown scripts and undeclared parameters through the real pypsrp client).
Not covered: what the cmdlets do on a real Windows Server.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hybridctl.commands import powershell, script_identity
from hybridctl.platforms.windows import win_command
from hybridctl.resources import powershell_script, templates_dir
from hybridctl.steps.windows import services
from tests.support.powershell import invocations, problems
from tests.support.winrm import SimulatedWindowsHost, WinRMEndpoint, register_builtin
from tests.support.winrm.host import declared_parameters
from tests.support.winrm.windows_handlers import register_windows
from tests.support.winrm.windows_kube import split_command_line
from tests.support.winrm_fixtures import TransportFactory

SCRIPTS = templates_dir() / "windows" / "scripts"
WINDOWS_SCRIPTS = sorted([*SCRIPTS.glob("win/*.ps1"), SCRIPTS / "node" / "facts.ps1"])


def _name(path: Path) -> str:
    return path.relative_to(SCRIPTS).with_suffix("").as_posix()


@pytest.mark.parametrize("path", WINDOWS_SCRIPTS, ids=_name)
def test_script_parses_for_windows_powershell_5_1(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert problems(text) == []
    assert text.splitlines()[0] == f"# hybridctl-script: {_name(path)}"
    assert script_identity(text) == _name(path)
    assert declared_parameters(text) is not None, "every script has a param() block"


@pytest.mark.parametrize("path", WINDOWS_SCRIPTS, ids=_name)
def test_every_script_has_a_simulator_handler(path: Path) -> None:
    host = SimulatedWindowsHost()
    register_builtin(host.scripts)
    register_windows(host.scripts)
    assert _name(path) in host.scripts


def test_nssm_script_writes_app_parameters_to_the_registry_not_through_native_arguments() -> None:
    text = (SCRIPTS / "win" / "nssm-service.ps1").read_text(encoding="utf-8")
    writes = {call.literal("Name") for call in invocations(text, "Set-ItemProperty")}
    assert writes == {"AppParameters", "AppEnvironmentExtra"}


@pytest.mark.parametrize(
    "argv",
    [
        ["--config=C:\\var\\lib\\kubelet\\config.yaml", "--node-labels=a=b,c=d"],
        ["--root-dir=C:\\Program Files\\k", 'say "hi"', "trailing\\", ""],
        ['back\\\\slashes\\\\"quoted"'],
    ],
)
def test_app_parameters_split_back_into_the_same_arguments(argv: list[str]) -> None:
    assert split_command_line(services.command_line(argv)) == argv
    assert services.command_line(argv) == subprocess.list2cmdline(argv)


def test_simulator_refuses_an_unknown_script(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory
) -> None:
    transport = winrm_transport_factory(https_endpoint)
    result = transport.run(powershell("# hybridctl-script: win/format-disk\nparam()\n"))
    assert not result.ok and "no handler for script 'win/format-disk'" in result.stderr


def test_simulator_refuses_an_undeclared_parameter(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory
) -> None:
    register_windows(https_endpoint.host.scripts)
    transport = winrm_transport_factory(https_endpoint)
    result = transport.run(win_command("state", {"Paths": ["C:\\k"], "Everything": True}, probe=True))
    assert not result.ok and "Everything" in result.stderr
    good = transport.run(win_command("state", {"Paths": ["C:\\k\\x"]}, probe=True))
    assert json.loads(good.stdout)["files"] == {"C:\\k\\x": None}


def test_facts_probe_answers_what_ping_reads(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory
) -> None:
    register_windows(https_endpoint.host.scripts)
    transport = winrm_transport_factory(https_endpoint)
    facts = json.loads(transport.run(powershell(powershell_script("node/facts"), probe=True)).stdout)
    assert set(facts) == {"hostname", "build", "caption", "arch", "utcNow", "isAdmin", "psVersion"}
    assert facts["build"] == "10.0.20348" and facts["utcNow"].endswith("Z")
