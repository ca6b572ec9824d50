"""The PowerShell scripts the WinRM transport and the Windows primitives run.

Tier: winrm contract (static part). Real: the tree-sitter PowerShell grammar and the Windows PowerShell 5.1
checks in tests/support/powershell.py. Not covered: what the scripts do on Windows; the simulated host
implements their behaviour by identity (see tests/support/winrm/handlers.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridctl.commands import script_identity
from hybridctl.resources import templates_dir
from tests.support.powershell import invocations, problems
from tests.support.winrm import SimulatedWindowsHost, register_builtin, register_test_scripts
from tests.support.winrm.harness_scripts import SCRIPTS_DIR
from tests.support.winrm.host import declared_parameters

SHIPPED_ROOT = templates_dir() / "windows" / "scripts"
SHIPPED = sorted(p for folder in ("transport", "node") for p in (SHIPPED_ROOT / folder).glob("*.ps1"))
TEST_ONLY = sorted(SCRIPTS_DIR.rglob("*.ps1"))


def _identity(root: Path, path: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


@pytest.mark.parametrize("path", SHIPPED + TEST_ONLY, ids=lambda p: p.name)
def test_winrm_script_parses_for_windows_powershell_5_1(path: Path) -> None:
    assert problems(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_winrm_shipped_script_identity_is_its_path(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == f"# hybridctl-script: {_identity(SHIPPED_ROOT, path)}"
    assert declared_parameters(text) is not None, "every script needs a param() block"


@pytest.mark.parametrize("path", TEST_ONLY, ids=lambda p: p.name)
def test_winrm_test_script_identity_is_its_path(path: Path) -> None:
    assert script_identity(path.read_text(encoding="utf-8")) == _identity(SCRIPTS_DIR, path)


def test_winrm_every_script_has_a_simulator_handler() -> None:
    host = SimulatedWindowsHost()
    register_builtin(host.scripts)
    register_test_scripts(host.scripts)
    wanted = {_identity(SHIPPED_ROOT, p) for p in SHIPPED} | {_identity(SCRIPTS_DIR, p) for p in TEST_ONLY}
    assert wanted <= set(host.scripts)


def test_winrm_reboot_runs_as_system_through_a_scheduled_task() -> None:
    script = (SHIPPED_ROOT / "node" / "reboot.ps1").read_text(encoding="utf-8")
    principal = invocations(script, "New-ScheduledTaskPrincipal")[0]
    assert principal.literal("UserId") == "SYSTEM"
    assert invocations(script, "New-ScheduledTaskAction")[0].literal("Execute") == "shutdown.exe"
    assert invocations(script, "Start-ScheduledTask")
    assert not invocations(script, "Restart-Computer")


def test_winrm_put_commit_moves_into_place_only_after_the_hash_check() -> None:
    script = (SHIPPED_ROOT / "transport" / "put-commit.ps1").read_text(encoding="utf-8")
    hash_line = invocations(script, "Get-FileHash")[0].line
    move = invocations(script, "Move-Item")[0]
    assert "Force" in move.parameters
    assert move.line > hash_line
