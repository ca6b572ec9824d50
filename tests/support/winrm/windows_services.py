"""Handlers for the Windows step scripts that manage services and the boot task: ``win/containerd-service``,
``win/service-control``, ``win/nssm-service`` and ``win/boot-task``.

Tier: winrm contract / lab. Simulated: the Windows service manager and Task Scheduler. Each effect happens
only when the script sent makes the call behind it (script_calls.py, from its syntax tree):
- ``& $Exe --register-service`` registers containerd, ``Set-Service -StartupType`` sets its start type,
  ``Start-Service``/``Stop-Service``/``Restart-Service -Name $Name`` start, stop and restart;
- after ``Restart-Service -Force`` (which stops the running dependents, winsw/winsw#400) a dependent runs
  again only if the script starts it (``Start-Service -Name $d`` in ``foreach ($d in $dependents)``);
- nssm keeps exactly the settings the script passes to ``nssm set`` (``& $Nssm`` through its
  ``Invoke-Nssm`` helper) and the registry values it writes with ``Set-ItemProperty``; a service nssm
  never installed cannot be configured (nssm answers "Can't open service!");
- a scheduled task gets the trigger its ``New-ScheduledTaskTrigger`` call makes (``-AtStartup``:
  ``MSFT_TaskBootTrigger``) and the principal of ``New-ScheduledTaskPrincipal -UserId``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.winrm.host import ScriptContext, ScriptError
from tests.support.winrm.machine import Service
from tests.support.winrm.script_calls import ScriptCalls, script_calls
from tests.support.winrm.windows_kube import KubeSide

NSSM_EXE = "C:\\Program Files\\nssm\\nssm.exe"
TRIGGERS = {"atstartup": "MSFT_TaskBootTrigger", "atlogon": "MSFT_TaskLogonTrigger"}
NSSM_START_TYPES = {
    "service_auto_start": "Automatic",
    "service_demand_start": "Manual",
    "service_disabled": "Disabled",
}


def reply(ctx: ScriptContext, value: dict[str, Any]) -> None:
    """The script's last line: its answer as compressed JSON."""
    ctx.output(json.dumps(value, separators=(",", ":")))


def _named(calls: ScriptCalls, cmdlet: str, name: str) -> bool:
    """Whether the script calls ``cmdlet -Name <name>`` (``name``: the argument's source, lower case)."""
    return any(c.argument("Name") == name for c in calls.of(cmdlet))


class ServiceScripts:
    """The service and boot-task handlers of ``WindowsScripts`` (which provides ``kube``)."""

    kube: KubeSide

    def containerd_service(self, ctx: ScriptContext) -> None:
        """containerd.exe --register-service, automatic, started, pipe up."""
        calls, exe = script_calls(ctx), str(ctx.require("Exe"))
        registered = "containerd" not in ctx.machine.services
        if registered and any("--register-service" in c.words for c in calls.of("$Exe")):
            if not ctx.machine.has_file(exe):
                ctx.fail(f"The term '{exe}' is not recognized as the name of a cmdlet or program.")
            # containerd's registerService: StartAutomatic, DisplayName "Containerd"
            # (containerd v1.7 cmd/containerd/command/service_windows.go)
            ctx.machine.services["containerd"] = Service(
                "containerd", f'"{exe}" --run-service', display_name="Containerd", start_type="Automatic"
            )
        service = ctx.machine.services.get("containerd")
        if service is None:
            ctx.fail("Cannot find any service with service name 'containerd'.", "NoServiceFoundForGivenName")
        for call in calls.of("Set-Service"):
            if call.argument("Name") == "'containerd'" and call.argument("StartupType"):
                service.start_type = str(call.argument("StartupType")).strip("'").capitalize()
        if service.status != "Running" and _named(calls, "Start-Service", "'containerd'"):
            self._start(ctx, "containerd")
        reply(ctx, {"registered": registered, "status": service.status})

    def service_control(self, ctx: ScriptContext) -> None:
        """Start-Service / Stop-Service / Restart-Service (restart only when running)."""
        calls = script_calls(ctx)
        name, action = str(ctx.require("Name")), str(ctx.require("Action"))
        if action not in ("start", "stop", "restart"):
            ctx.fail(f"Cannot validate argument on parameter 'Action'. '{action}' is not in the set.")
        service = ctx.machine.services.get(name)
        if service is None:
            if action != "start":
                reply(ctx, {"status": "Missing"})
                return
            ctx.fail(f"service {name} is not installed")
        if action == "stop" and service.status != "Stopped" and _named(calls, "Stop-Service", "$name"):
            self.kube.stop(ctx.machine, name)
        elif action == "start" and service.status != "Running" and _named(calls, "Start-Service", "$name"):
            self._start(ctx, name)
        elif action == "restart" and service.status == "Running":
            self._restart(ctx, name, calls)
        reply(ctx, {"status": service.status})

    def nssm_service(self, ctx: ScriptContext) -> None:
        """nssm install/set plus the registry values; (re)start with -Start."""
        calls, name = script_calls(ctx), str(ctx.require("Name"))
        for path in (str(ctx.require("Nssm")), str(ctx.require("Application"))):
            if not ctx.machine.has_file(path):
                ctx.fail(f"The term '{path}' is not recognized as the name of a cmdlet or program.")
        verbs = _nssm_verbs(calls)
        created = name not in ctx.machine.services
        if created and "install" in verbs:
            ctx.machine.services[name] = Service(name, NSSM_EXE, start_type="Automatic")
        service = ctx.machine.services.get(name)
        if service is None:
            ctx.fail(f"nssm set {name} failed (exit 3): Can't open service!")
        _nssm_settings(ctx, service, verbs.get("set", {}), "DependOnService" in verbs.get("reset", {}))
        if ctx.param("Start"):
            if service.status == "Running" and _named(calls, "Restart-Service", "$name"):
                self._restart(ctx, name, calls)
            elif service.status != "Running" and _named(calls, "Start-Service", "$name"):
                self._start(ctx, name)
        reply(ctx, {"created": created, "status": service.status})

    def boot_task(self, ctx: ScriptContext) -> None:
        """Register-ScheduledTask -Force with the action, trigger and principal the script builds."""
        calls, name = script_calls(ctx), str(ctx.require("TaskName"))
        register = [c for c in calls.of("Register-ScheduledTask") if c.argument("TaskName") == "$taskname"]
        if register:
            ctx.machine.scheduled_tasks[name] = _task(ctx, calls, register[0])
        reply(ctx, {"task": name})

    def _restart(self, ctx: ScriptContext, name: str, calls: ScriptCalls) -> None:
        """Restart-Service -Force (Windows stops the running dependents), then Start-Service of each
        dependent the script starts again."""
        if not _named(calls, "Restart-Service", "$name"):
            return
        try:
            stopped = self.kube.restart_forced(ctx.machine, name)
        except ScriptError as exc:
            ctx.machine.services[name].status = "Stopped"
            ctx.fail(f"Restart-Service: service '{name}' cannot be started: {exc.message}")
        if calls.each("Start-Service", ("Name",), "$dependents"):
            for dependent in stopped:
                self._start(ctx, dependent)

    def _start(self, ctx: ScriptContext, name: str) -> None:
        try:
            self.kube.start(ctx.machine, name)
        except ScriptError as exc:
            ctx.machine.services[name].status = "Stopped"
            ctx.fail(f"Start-Service: service '{name}' cannot be started: {exc.message}")


def _nssm_verbs(calls: ScriptCalls) -> dict[str, dict[str, tuple[str, ...]]]:
    """What the script asks nssm, by verb then setting: ``{"set": {"AppStdout": (...)}, ...}``. Only calls
    that reach ``& $Nssm`` count: direct ones and those of a script function that passes its
    ``-Arguments`` on (``& $Nssm @Arguments``)."""
    forwards = any("@arguments" in c.words for c in calls.of("$Nssm"))
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for call in calls.of("Invoke-Nssm") if forwards else []:
        if call.literals:
            verb, *rest = call.literals
            found.setdefault(verb.lower(), {})[rest[0] if rest else ""] = tuple(rest[1:])
    return found


def _nssm_settings(
    ctx: ScriptContext, service: Service, settings: dict[str, tuple[str, ...]], reset_depends: bool
) -> None:
    """Apply the ``nssm set`` settings and the ``Set-ItemProperty`` values the script writes."""
    calls = script_calls(ctx)
    values = _nssm_values(ctx)
    if "DisplayName" in settings:
        service.display_name = str(ctx.require("DisplayName"))
    if "Start" in settings:
        service.start_type = NSSM_START_TYPES.get(settings["Start"][0].lower(), service.start_type)
    if "DependOnService" in settings:
        service.depends_on = [str(d) for d in ctx.param("DependOnService") or []]
    if reset_depends and not ctx.param("DependOnService"):
        service.depends_on = []
    written = {c.literals[0] for c in calls.of("Set-ItemProperty") if c.literals}
    removed = {c.literals[0] for c in calls.of("Remove-ItemProperty") if c.literals}
    kept = dict(service.parameters)
    kept.update({k: v for k, v in values.items() if k in settings or k in written})
    if "AppEnvironmentExtra" not in values and "AppEnvironmentExtra" in removed:
        kept.pop("AppEnvironmentExtra", None)
    service.parameters = kept


def _nssm_values(ctx: ScriptContext) -> dict[str, Any]:
    values: dict[str, Any] = {
        "Application": str(ctx.require("Application")),
        "AppParameters": str(ctx.param("AppParameters") or ""),
        "AppStdout": str(ctx.require("Stdout")),
        "AppStderr": str(ctx.require("Stderr")),
        "AppRotateFiles": int(ctx.param("RotateFiles", 1)),
        "AppRotateOnline": int(ctx.param("RotateOnline", 1)),
        "AppRotateSeconds": int(ctx.param("RotateSeconds", 86400)),
        "AppRotateBytes": int(ctx.param("RotateBytes", 10485760)),
        "AppExit": str(ctx.param("ExitAction", "Restart")),
        "AppRestartDelay": int(ctx.param("RestartDelay", 5000)),
    }
    environment = [str(e) for e in ctx.param("Environment") or []]
    if any("=" not in e for e in environment):
        ctx.fail("AppEnvironmentExtra entries must be NAME=value")
    if environment:
        values["AppEnvironmentExtra"] = environment
    return values


def _task(ctx: ScriptContext, calls: ScriptCalls, register: Any) -> dict[str, Any]:
    """The task Register-ScheduledTask makes from the objects its -Action/-Trigger/-Principal name."""

    def built(parameter: str, cmdlet: str) -> list[Any]:
        variable = register.argument(parameter) or ""
        return [c for c in calls.source(variable) if c.name == cmdlet.lower()]

    action = next(iter(built("Action", "New-ScheduledTaskAction")), None)
    trigger = next(iter(built("Trigger", "New-ScheduledTaskTrigger")), None)
    principal = next(iter(built("Principal", "New-ScheduledTaskPrincipal")), None)
    if action is None:
        ctx.fail("Register-ScheduledTask: Cannot validate argument on parameter 'Action'.")
    kinds = [TRIGGERS[k] for k, _ in trigger.parameters if k in TRIGGERS] if trigger else []
    return {
        "execute": str(ctx.require("Execute")) if action.argument("Execute") == "$execute" else "",
        "arguments": str(ctx.require("Arguments")) if action.argument("Argument") == "$arguments" else "",
        "userId": principal.literals[0] if principal and principal.literals else "",
        "trigger": kinds[0] if kinds else "",
    }
