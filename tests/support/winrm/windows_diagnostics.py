"""The handler of ``win/diagnostics`` (``hybridctl support-bundle`` on a Windows node), read-only.

Simulated: the Windows host. Every answer comes from the ``WindowsMachine`` model: log files are the
model's files (their last ``TailLines`` lines), event logs are ``machine.extra["event_logs"]`` (a log
that exists with no entries answers Get-WinEvent's "No events were found" error, as Windows does), HNS
objects are the model's networks and endpoints in the shape HNS returns (``Name``, ``ID``, ``Subnets``...),
routes, firewall rules and services are the model's own.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.winrm.host import ScriptContext
from tests.support.winrm.machine import WindowsMachine, path_key

NO_EVENTS = "No events were found that match the specified selection criteria."
_START_MODES = {"Automatic": "Auto", "Manual": "Manual", "Disabled": "Disabled"}


def diagnostics(ctx: ScriptContext) -> None:
    """win/diagnostics: the part asked for."""
    part = str(ctx.require("Part"))
    if part not in _PARTS:
        ctx.fail(f"Cannot validate argument on parameter 'Part'. The argument \"{part}\" does not belong")
    machine = ctx.machine
    with machine.lock:
        reply = {"part": part, **_PARTS[part](ctx, machine)}
    ctx.output(json.dumps(reply, separators=(",", ":")))


def _tail(machine: WindowsMachine, path: str, lines: int) -> str | None:
    if not machine.has_file(path):
        return None
    text = machine.read_file(path).decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def _events(machine: WindowsMachine, log: str, provider: str | None, most: int) -> dict[str, Any]:
    logs: dict[str, list[dict[str, Any]]] = machine.extra.get("event_logs", {})
    entries = [e for e in logs.get(log, []) if provider is None or e.get("provider") == provider]
    if not entries:
        return {"error": NO_EVENTS}
    return {"entries": [dict(e) for e in entries[-most:]][::-1]}  # newest first, like Get-WinEvent


def _logs(ctx: ScriptContext, machine: WindowsMachine) -> dict[str, Any]:
    lines, most = int(ctx.param("TailLines", 2000)), int(ctx.param("MaxEvents", 200))
    return {
        "files": {p: _tail(machine, p, lines) for p in ctx.param("LogFiles") or []},
        "events": {name: _events(machine, name, None, most) for name in ctx.param("EventLogs") or []},
        "containerdEvents": _events(machine, "Application", "containerd", most),
    }


def _network(ctx: ScriptContext, machine: WindowsMachine) -> dict[str, Any]:
    prefix = str(ctx.param("FirewallPrefix") or "")
    networks = [
        {
            "Name": name,
            "ID": net["id"],
            "Type": net["type"],
            "NetworkAdapterName": net["adapter"],
            "Subnets": [{"AddressPrefix": net["addressPrefix"], "GatewayAddress": net["gateway"]}],
        }
        for name, net in machine.hns_networks.items()
    ]
    endpoints = [
        {"Name": name, "ID": ep["id"], "VirtualNetworkName": ep["network"], "IPAddress": ep["ipAddress"]}
        for name, ep in machine.hns_endpoints.items()
    ]
    return {
        "hnsNetworks": {"items": networks},
        "hnsEndpoints": {"items": endpoints},
        "hnsPolicies": {"items": list(machine.extra.get("hns_policy_lists", []))},
        "routes": [dict(r) for r in machine.routes],
        "firewallRules": [
            dict(rule) for name, rule in machine.firewall_rules.items() if name.startswith(prefix)
        ],
    }


def _config(ctx: ScriptContext, machine: WindowsMachine) -> dict[str, Any]:
    lines = int(ctx.param("TailLines", 2000))
    files = {p: _tail(machine, p, lines) for p in ctx.param("Files") or []}
    for directory in ctx.param("Directories") or []:
        prefix = path_key(directory) + "\\"
        for key in sorted(k for k in machine.files if k.startswith(prefix) and "\\" not in k[len(prefix) :]):
            files[key] = _tail(machine, key, lines)
    services = [
        {
            "name": s.name,
            "state": s.status,
            "startMode": _START_MODES.get(s.start_type, s.start_type),
            "pathName": s.binary_path,
        }
        for s in machine.services.values()
    ]
    return {"services": services, "files": files}


_PARTS = {"logs": _logs, "network": _network, "config": _config}
