"""Test-only scripts (identities ``test/...``) and their simulated behaviour, for the transport tests.

The scripts are real PowerShell in ``scripts/test/``; the handlers here are what the simulated host does
when it receives them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from hybridctl.commands import PsCommand, PsValue, powershell
from tests.support.winrm.host import ScriptContext, ScriptRegistry

SCRIPTS_DIR = Path(__file__).parent / "scripts"


@cache
def harness_script(name: str) -> str:
    """The text of ``scripts/<name>.ps1`` (for example ``test/echo``)."""
    return (SCRIPTS_DIR / f"{name}.ps1").read_text(encoding="utf-8")


def harness_command(name: str, **params: PsValue) -> PsCommand:
    """A PsCommand for the test script ``name`` with ``params``."""
    return powershell(harness_script(name), params)


def register_test_scripts(registry: ScriptRegistry) -> ScriptRegistry:
    """Register handlers for every ``test/...`` script."""
    registry.register("test/echo", _echo)
    registry.register("test/echo-stderr", _echo_stderr)
    registry.register("test/exit", _exit)
    registry.register("test/sleep", _sleep)
    registry.register("test/args", _args)
    registry.register("test/warn", _warn)
    registry.register("test/drop-connection", _drop_connection)
    return registry


def _echo(ctx: ScriptContext) -> None:
    ctx.output(str(ctx.param("Text", "")))


def _echo_stderr(ctx: ScriptContext) -> None:
    ctx.error(str(ctx.param("Text", "")), "Microsoft.PowerShell.Commands.WriteErrorException")


def _exit(ctx: ScriptContext) -> None:
    code = int(ctx.param("Code", 0))
    if code != 0:
        ctx.fail(f"exit code {code}")


def _sleep(ctx: ScriptContext) -> None:
    marker = str(ctx.param("Marker", ""))
    with ctx.machine.lock:
        ctx.machine.running.add(marker)
    try:
        ctx.sleep(float(ctx.param("Seconds", 0)))
    except BaseException:
        with ctx.machine.lock:
            ctx.machine.stopped.append(marker)
        raise
    finally:
        with ctx.machine.lock:
            ctx.machine.running.discard(marker)


def _args(ctx: ScriptContext) -> None:
    ctx.output(json.dumps(ctx.params, ensure_ascii=False, separators=(",", ":")))


def _warn(ctx: ScriptContext) -> None:
    text = str(ctx.param("Text", ""))
    ctx.warning(f"about to echo {text}")
    ctx.output(text)


def _drop_connection(ctx: ScriptContext) -> None:
    ctx.sleep(float(ctx.param("AfterSeconds", 0.2)))
    if ctx.host.power is not None:
        ctx.host.power.drop_connections()
    ctx.sleep(float(ctx.param("HoldSeconds", 1.0)))
