"""win/smoke-image on the simulated host: the CRI's images and the SYSTEM task that pulls one (background).

Simulated: containerd's image store (``WindowsMachine.images``) and the task's run, which completes at once.
Judged from the script the client sent: the task's command line is the script's own ``-f`` format string
filled with the parameters, then read as crictl's command line (global flags before the command, as
urfave/cli, which crictl uses, requires: ``crictl [global options] command [command options] [arguments]``,
kubernetes-sigs/cri-tools docs/crictl.md); the pull works only with crictl installed, containerd running and
both endpoints on containerd's pipe. ``present`` needs the script's ``& $Crictl ... inspecti $Ref``.
"""

from __future__ import annotations

import json
import re
import shlex

from tests.support.winrm.host import ScriptContext
from tests.support.winrm.machine import WindowsMachine, utcnow
from tests.support.winrm.script_calls import ScriptCalls, script_calls

TASK = "hybridctl-smoke-pull"
PIPE = "npipe:////./pipe/containerd-containerd"
_FORMAT = re.compile(r"\$arguments\s*=\s*'([^']*)'\s*-f\s*\$RuntimeEndpoint\s*,\s*\$Ref", re.IGNORECASE)


def smoke_image(ctx: ScriptContext) -> None:
    """Report the image and the task; with -Start register the task and run it (the pull)."""
    machine, calls = ctx.machine, script_calls(ctx)
    ref, crictl = str(ctx.require("Ref")), str(ctx.require("Crictl"))
    endpoint = str(ctx.require("RuntimeEndpoint"))
    if ctx.param("Start") and calls.of("Register-ScheduledTask") and calls.of("Start-ScheduledTask"):
        with machine.lock:
            _run_task(ctx, machine, crictl, _command_line(ctx.script or "", endpoint, ref))
    with machine.lock:
        task = machine.scheduled_tasks.get(TASK)
        result = machine.extra.get("taskResults", {}).get(TASK) if task else None
        present = _inspects(calls) and _cri_up(machine, crictl, endpoint) and ref in machine.images
    ctx.output(json.dumps({"present": present, "pulling": False, "lastResult": result}))


def _command_line(script: str, endpoint: str, ref: str) -> list[str]:
    """The task's arguments as the script's format string makes them (empty when it builds none)."""
    found = _FORMAT.search(script)
    return shlex.split(found.group(1).replace("{0}", endpoint).replace("{1}", ref)) if found else []


def _run_task(ctx: ScriptContext, machine: WindowsMachine, crictl: str, argv: list[str]) -> None:
    machine.scheduled_tasks[TASK] = {
        "execute": crictl,
        "arguments": " ".join(argv),
        "userId": "SYSTEM",
        "trigger": "",
    }
    machine.task_last_run[TASK] = utcnow()
    pulled = _pull(machine, crictl, argv)
    machine.extra.setdefault("taskResults", {})[TASK] = 0 if pulled else 1
    if pulled:
        machine.images.add(pulled)


def _pull(machine: WindowsMachine, crictl: str, argv: list[str]) -> str | None:
    """The reference crictl pulls with ``argv``, or None when that command line fails."""
    options: dict[str, str] = {}
    rest = list(argv)
    while len(rest) >= 2 and rest[0].startswith("--"):
        flag, value, *rest = rest
        options[flag] = value
    if rest[:1] != ["pull"] or len(rest) != 2:
        return None
    endpoints = (options.get("--runtime-endpoint"), options.get("--image-endpoint"))
    if endpoints != (PIPE, PIPE) or not _cri_up(machine, crictl, PIPE):
        return None
    return rest[1]


def _cri_up(machine: WindowsMachine, crictl: str, endpoint: str) -> bool:
    containerd = machine.services.get("containerd")
    running = containerd is not None and containerd.status == "Running"
    return running and endpoint == PIPE and machine.has_file(crictl)


def _inspects(calls: ScriptCalls) -> bool:
    return any(c.name == "$crictl" and "inspecti" in c.words for c in calls.calls)
