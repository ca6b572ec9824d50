"""nssm services from hybridctl's service definitions (``<service>-service.json``, see render/windows.py).

The definition's ``arguments`` are an argv list; nssm wants one command line (AppParameters), which the
service's process splits again with the Microsoft C runtime rules, so the line is built with exactly
those rules (``subprocess.list2cmdline``).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from typing import Any

from hybridctl.commands import PsValue
from hybridctl.platforms.windows import apply_json, strings
from hybridctl.render import RenderedFile
from hybridctl.steps.base import Change
from hybridctl.steps.host import HostHandle
from hybridctl.steps.windows.common import NSSM_EXE

START_TYPES = {"auto": "Automatic", "manual": "Manual", "disabled": "Disabled"}


def definition(item: RenderedFile) -> dict[str, Any]:
    """The parsed service definition."""
    parsed: dict[str, Any] = json.loads(item.content)
    return parsed


def command_line(arguments: list[str]) -> str:
    """AppParameters for ``arguments``: quoted so CommandLineToArgvW gives back exactly these strings."""
    return subprocess.list2cmdline(arguments)


def environment(service: dict[str, Any]) -> list[str]:
    """AppEnvironmentExtra values, ``NAME=value``."""
    return [f"{name}={value}" for name, value in sorted(service.get("environment", {}).items())]


def wanted_parameters(service: dict[str, Any]) -> dict[str, Any]:
    """The nssm registry values the definition implies (what ``win/state`` reads back)."""
    rotation = service["rotation"]
    wanted: dict[str, Any] = {
        "Application": service["application"],
        "AppParameters": command_line(list(service["arguments"])),
        "AppStdout": service["stdout"],
        "AppStderr": service["stderr"],
        "AppRotateFiles": int(bool(rotation["files"])),
        "AppRotateOnline": int(bool(rotation["online"])),
        "AppRotateSeconds": int(rotation["seconds"]),
        "AppRotateBytes": int(rotation["bytes"]),
        "AppExit": service["exitAction"],
        "AppRestartDelay": int(service["restartDelayMs"]),
    }
    return wanted


def restart_marked(changes: list[Change], live: dict[str, Any] | None) -> list[Change]:
    """``changes`` marked RESTART when the service runs now, so applying them restarts it.

    A service that does not exist yet (a fresh node) or is stopped is started, not restarted: no mark.
    """
    if not live or not live.get("exists") or live.get("status") != "Running":
        return [dataclasses.replace(c, impact=None) if c.impact == "restart" else c for c in changes]
    return [dataclasses.replace(c, impact="restart") if c.impact is None else c for c in changes]


def differences(service: dict[str, Any], live: dict[str, Any] | None) -> list[str]:
    """How the live service differs from the definition (empty when it matches and runs)."""
    name = service["name"]
    if not live or not live.get("exists"):
        return [f"create service {name}"]
    found = _setting_differences(service, live)
    if live.get("status") != "Running":
        found.append(f"start service {name} (it is {live.get('status')})")
    return found


def _setting_differences(service: dict[str, Any], live: dict[str, Any]) -> list[str]:
    name, parameters = service["name"], live.get("parameters") or {}
    found = [
        f"service {name}: {key} is {parameters.get(key)!r}, wanted {value!r}"
        for key, value in wanted_parameters(service).items()
        if parameters.get(key) != value
    ]
    if _list(parameters.get("AppEnvironmentExtra")) != environment(service):
        found.append(f"service {name}: environment differs")
    if sorted(_list(live.get("dependOnService"))) != sorted(service["dependOnService"]):
        found.append(
            f"service {name}: depends on {live.get('dependOnService')}, wanted {service['dependOnService']}"
        )
    if live.get("startType") != START_TYPES[service["startType"]]:
        found.append(
            f"service {name}: start type {live.get('startType')}, wanted {START_TYPES[service['startType']]}"
        )
    if live.get("displayName") != service["displayName"]:
        found.append(f"service {name}: display name differs")
    return found


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def install_service(host: HostHandle, service: dict[str, Any], *, start: bool) -> dict[str, Any]:
    """Create or update the nssm service and (re)start it when ``start``."""
    rotation = service["rotation"]
    params: dict[str, PsValue] = {
        "Nssm": NSSM_EXE,
        "Name": service["name"],
        "DisplayName": service["displayName"],
        "Application": service["application"],
        "AppParameters": command_line(list(service["arguments"])),
        "Environment": strings(environment(service)),
        "DependOnService": strings(service["dependOnService"]),
        "Stdout": service["stdout"],
        "Stderr": service["stderr"],
        "RotateFiles": int(bool(rotation["files"])),
        "RotateOnline": int(bool(rotation["online"])),
        "RotateSeconds": int(rotation["seconds"]),
        "RotateBytes": int(rotation["bytes"]),
        "ExitAction": service["exitAction"],
        "RestartDelay": int(service["restartDelayMs"]),
        "Start": start,
    }
    return apply_json(host, "nssm-service", params)
