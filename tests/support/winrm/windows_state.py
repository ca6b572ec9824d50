"""Read-only handlers: ``node/facts``, ``win/preflight``, ``win/state``, ``win/status``, ``win/fetch-text``.

Simulated: the Windows host. None of these changes the machine model (tests compare it before and after
a plan). ``win/state`` answers exactly the members the script would for the parameters it was given.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from typing import TYPE_CHECKING, Any

from tests.support.winrm.handlers import facts, fetch_url
from tests.support.winrm.host import ScriptContext, ScriptRegistry
from tests.support.winrm.machine import WindowsMachine, path_key, utcnow
from tests.support.winrm.windows_diagnostics import diagnostics
from tests.support.winrm.windows_hns import interfaces, reported_endpoint, reported_network

if TYPE_CHECKING:
    from tests.support.winrm.windows_handlers import WindowsScripts


def _reply(ctx: ScriptContext, value: dict[str, Any]) -> None:
    ctx.output(json.dumps(value, separators=(",", ":")))


def register_reads(registry: ScriptRegistry, scripts: WindowsScripts) -> None:
    """Register the read-only handlers."""
    registry.register("node/facts", facts)  # also in register_builtin: ping needs it without the rest
    registry.register("win/preflight", lambda ctx: preflight(ctx, scripts))
    registry.register("win/state", lambda ctx: state(ctx, scripts))
    registry.register("win/fetch-text", fetch_text)
    registry.register("win/status", status)
    registry.register("win/diagnostics", diagnostics)


def _now(machine: WindowsMachine) -> str:
    from tests.support.winrm.windows_handlers import utc_stamp

    return utc_stamp(machine.clock_offset)


def preflight(ctx: ScriptContext, scripts: WindowsScripts) -> None:
    """win/preflight."""
    machine, hotfix = ctx.machine, str(ctx.param("HotFix") or "")
    api = scripts.api_result(str(ctx.require("ApiHost")), int(ctx.require("ApiPort")))
    _reply(
        ctx,
        {
            "hostname": machine.hostname,
            "build": machine.version,
            "caption": machine.edition,
            "isAdmin": machine.is_admin,
            "w32time": machine.w32time,
            "utcNow": _now(machine),
            "api": api,
            "hypervCapable": machine.hyperv_capable,
            "hotFixPresent": (hotfix in machine.hotfixes) if hotfix else None,
            "nodeAdapter": _owner(machine, str(ctx.param("NodeAddress") or "")),
            "modePaths": [str(p) for p in ctx.param("ModePaths") or [] if machine.has_file(str(p))],
            "restartScheduledSecondsAgo": _restart_scheduled(machine),
        },
    )


def _restart_scheduled(machine: WindowsMachine) -> int | None:
    """Seconds since node/reboot's task ran, when that was after the last boot (its restart is to come)."""
    last_run = machine.task_last_run.get("hybridctl-reboot")
    if "hybridctl-reboot" not in machine.scheduled_tasks or last_run is None or last_run <= machine.boot_time:
        return None
    return int((utcnow() - last_run).total_seconds())


def _owner(machine: WindowsMachine, address: str) -> str | None:
    """Get-NetIPAddress -IPAddress: the interface holding ``address`` now."""
    owners = [alias for alias, held in interfaces(machine).items() if address and held == address]
    return owners[0] if owners else None


def fetch_text(ctx: ScriptContext) -> None:
    """win/fetch-text: a real HTTP GET from the test mirror."""
    data = fetch_url(ctx, str(ctx.require("Url")))
    if len(data) > int(ctx.param("MaxBytes", 65536)):
        ctx.fail("not a checksum file: too large")
    _reply(ctx, {"text": data.decode("utf-8")})


def state(ctx: ScriptContext, scripts: WindowsScripts) -> None:
    """win/state: only the members asked for."""
    machine = ctx.machine
    with machine.lock:
        reply: dict[str, Any] = {"machinePath": machine.machine_path}
        for param, member, reader in _READERS:
            value = ctx.param(param)
            if value:
                reply[member] = reader(machine, value, scripts)
    _reply(ctx, reply)


def status(ctx: ScriptContext) -> None:
    """win/status: the OS, the services asked for and what each binary asked for prints for --version."""
    machine = ctx.machine
    with machine.lock:
        services = {
            name: machine.services[name].status if name in machine.services else None
            for name in ctx.param("Services") or []
        }
        versions = {path: _version_line(machine, path) for path in ctx.param("Binaries") or []}
        reply = {"caption": machine.edition, "build": machine.version, "services": services}
    _reply(ctx, {**reply, "versions": versions})


def _version_line(machine: WindowsMachine, path: str) -> str | None:
    """What ``& path --version`` prints: None for a missing file (the script skips it), else derived from
    the installed binary (the lab's binaries are ``MZ simulated <name> <version>`` stand-ins)."""
    if not machine.has_file(path):
        return None
    label = machine.read_file(path).decode("utf-8", "replace").partition("simulated ")[2].split()
    if len(label) != 2:
        return f"error: The file '{path}' is not a program this host can run."
    name, version = label[0].casefold(), label[1]
    if name in ("kubelet.exe", "kube-proxy.exe"):
        return f"Kubernetes v{version}"
    if name == "containerd.exe":
        module = "github.com/containerd/containerd" + ("/v2" if int(version.split(".")[0]) >= 2 else "")
        return f"containerd {module} v{version} lab-simulation"
    return f"error: {name} does not answer --version"


def _files(machine: WindowsMachine, paths: list[str], _s: Any) -> dict[str, str | None]:
    return {
        p: hashlib.sha256(machine.read_file(p)).hexdigest() if machine.has_file(p) else None for p in paths
    }


def _directories(machine: WindowsMachine, paths: list[str], _s: Any) -> dict[str, bool]:
    return {p: path_key(p) in machine.directories for p in paths}


def _services(machine: WindowsMachine, names: list[str], _s: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in names:
        service = machine.services.get(name)
        found[name] = (
            {"exists": False}
            if service is None
            else {
                "exists": True,
                "status": service.status,
                "startType": service.start_type,
                "displayName": service.display_name,
                "binaryPath": service.binary_path,
                "dependOnService": list(service.depends_on),
                "parameters": dict(service.parameters),
            }
        )
    return found


def _pipes(machine: WindowsMachine, pipes: list[str], _s: Any) -> dict[str, bool]:
    containerd = machine.services.get("containerd")
    running = containerd is not None and containerd.status == "Running"
    return {p: running and p.lower().endswith("containerd-containerd") for p in pipes}


def _features(machine: WindowsMachine, names: list[str], _s: Any) -> dict[str, Any]:
    states = {n: machine.feature_states.get(n, "Available") for n in names}
    return {n: {"installed": s == "Installed", "installState": s} for n, s in states.items()}


def _firewall(machine: WindowsMachine, prefix: str, _s: Any) -> list[dict[str, Any]]:
    return [dict(rule) for name, rule in machine.firewall_rules.items() if name.startswith(prefix)]


def _tasks(machine: WindowsMachine, names: list[str], _s: Any) -> dict[str, Any]:
    return {
        n: {"exists": True, **machine.scheduled_tasks[n]}
        if n in machine.scheduled_tasks
        else {"exists": False}
        for n in names
    }


def _hns(machine: WindowsMachine, _names: list[str], _s: Any) -> dict[str, Any]:
    """What HNS GET answers, not what was posted (flannel-io/flannel#833)."""
    return {
        "networks": {k: reported_network(v) for k, v in machine.hns_networks.items()},
        "endpoints": {k: reported_endpoint(v) for k, v in machine.hns_endpoints.items()},
    }


def _acls(machine: WindowsMachine, paths: list[str], _s: Any) -> dict[str, Any]:
    return {
        p: {"exists": True, **machine.effective_acl(p)} if machine.exists(p) else {"exists": False}
        for p in paths
    }


def _interfaces(machine: WindowsMachine, aliases: list[str], _s: Any) -> dict[str, bool]:
    present = interfaces(machine)
    return {a: a in present for a in aliases}


def _routes(machine: WindowsMachine, alias: str, _s: Any) -> list[dict[str, Any]]:
    keys = ("destinationPrefix", "nextHop", "routeMetric", "store")
    return [{k: r[k] for k in keys} for r in machine.routes if r["interfaceAlias"] == alias]


def _health(machine: WindowsMachine, urls: list[str], scripts: WindowsScripts) -> dict[str, int | None]:
    healthy = scripts.kube.kube_proxy_healthy(machine)
    return {u: 200 if healthy and u.endswith(":10256/healthz") else None for u in urls}


def _ipam_stores(machine: WindowsMachine, paths: list[str], _s: Any) -> dict[str, dict[str, str]]:
    """host-local's disk store: file name (the address) -> first line (the container ID)."""
    found: dict[str, dict[str, str]] = {}
    for path in paths:
        prefix = path_key(path) + "\\"
        found[path] = {
            key[len(prefix) :]: machine.files[key].decode().splitlines()[0]
            for key in machine.files
            if key.startswith(prefix) and _is_address(key[len(prefix) :])
        }
    return found


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _record(machine: WindowsMachine, path: str, _s: Any) -> Any:
    return json.loads(machine.read_file(path)) if machine.has_file(path) else None


_READERS = (
    ("Paths", "files", _files),
    ("Directories", "directories", _directories),
    ("Services", "services", _services),
    ("Pipes", "pipes", _pipes),
    ("Features", "features", _features),
    ("FirewallPrefix", "firewallRules", _firewall),
    ("Tasks", "tasks", _tasks),
    ("Networks", "hns", _hns),
    ("RouteInterface", "routes", _routes),
    ("Interfaces", "interfaces", _interfaces),
    ("Acls", "acls", _acls),
    ("HealthUrls", "health", _health),
    ("IpamStores", "ipamStores", _ipam_stores),
    ("RecordPath", "record", _record),
)
