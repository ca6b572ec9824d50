"""Every constant ``sh -c`` script hybridctl sends to a Linux host passes ShellCheck as POSIX sh.

Tier: render. Real: ShellCheck (Debian's package) judging each script as ``sh`` (``shell()`` runs them with
``sh -c``, dash on Debian), Python's ``ast`` finding every ``shell(SCRIPT, ...)`` call in the package.
Simulated: nothing. Scripts built at run time (f-strings) are not constants and are listed separately so a
new one cannot slip past unnoticed.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.ci import in_ci, require_tool

PACKAGE = Path(__file__).resolve().parents[2] / "hybridctl"
# Modules whose shell() scripts are chosen or assembled at run time, reviewed by hand, with the module
# constants they choose from (checked like the rest).
DYNAMIC = {"hybridctl.transport.ssh": (), "hybridctl.steps.linux.repository": ("_APT_STATUS", "_RPM_STATUS")}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _shell_calls() -> list[tuple[str, ast.expr]]:
    calls = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "shell":
                calls.append((_module_name(path), node.args[0]))
    return calls


def _scripts() -> tuple[dict[str, str], set[str]]:
    constants: dict[str, str] = {}
    dynamic: set[str] = set()
    for module, arg in _shell_calls():
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            constants[f"{module}:{arg.value[:30]!r}"] = arg.value
        elif isinstance(arg, ast.Name) and hasattr(importlib.import_module(module), arg.id):
            constants[f"{module}.{arg.id}"] = getattr(importlib.import_module(module), arg.id)
        else:
            dynamic.add(module)
    for module, names in DYNAMIC.items():
        for name in names:
            constants[f"{module}.{name}"] = getattr(importlib.import_module(module), name)
    assert all(isinstance(script, str) for script in constants.values())
    return constants, dynamic


def test_every_constant_script_passes_shellcheck() -> None:
    """ShellCheck finds nothing in any script hybridctl runs with ``sh -c`` on a Linux node."""
    if shutil.which("shellcheck") is None and not in_ci():
        pytest.skip("shellcheck is not installed: apt-get install -y shellcheck")
    tool = require_tool("shellcheck", "apt-get install -y shellcheck")
    constants, _ = _scripts()
    assert len(constants) > 15, "the ast scan found too few scripts: is shell() still the helper?"
    findings = {}
    for name, script in constants.items():
        # Warnings and errors; info notes such as "A && B || true is not if-then-else" are intended idioms.
        argv = [tool, "-s", "sh", "-S", "warning", "-"]
        done = subprocess.run(argv, input=script, capture_output=True, text=True, check=False)
        if done.returncode:
            findings[name] = done.stdout
    assert not findings, "\n".join(f"== {name}\n{out}" for name, out in findings.items())


def test_scripts_built_at_run_time_are_the_reviewed_ones() -> None:
    """A new run-time-built script (not a constant ShellCheck can see) fails here until it is reviewed."""
    _, dynamic = _scripts()
    assert dynamic <= set(DYNAMIC), f"new non-constant shell() scripts in {sorted(dynamic - DYNAMIC)}"
