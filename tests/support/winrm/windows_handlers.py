"""Handlers for hybridctl's Windows step scripts (``templates/windows/scripts/{node/facts,win/*}``).

Tier: winrm contract / lab. Simulated: the Windows host; each handler realises its script against the
``WindowsMachine`` model, validating parameters and the files it reads, and makes each change only when
the script the client sent makes the call behind it (script_calls.py, windows_hns_script.py: from the
script's syntax tree). Read-only scripts never change the model. Real: HTTP downloads from the test
mirror (loopback or the lab network) with sha256 checks, archive extraction (zipfile/tarfile),
tree-sitter parsing of rendered scripts.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import ipaddress
import json
import os
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridctl.resources import powershell_script
from tests.support.powershell import parse, walk
from tests.support.winrm import windows_hns as hns
from tests.support.winrm.handlers import fetch_url
from tests.support.winrm.host import ScriptContext, ScriptRegistry
from tests.support.winrm.machine import WindowsMachine, path_key
from tests.support.winrm.script_calls import ScriptCalls, script_calls
from tests.support.winrm.windows_hns_script import HnsNetworkScript, read_hns_network_script
from tests.support.winrm.windows_images import smoke_image
from tests.support.winrm.windows_kube import KubeSide, agent_context
from tests.support.winrm.windows_net import (
    NetworkRealiser,
    NullRealiser,
    checked_script,
    run_firewall,
    run_routes,
)
from tests.support.winrm.windows_services import ServiceScripts, reply
from tests.support.winrm.windows_state import register_reads

KNOWN_FEATURES = {"Containers", "Hyper-V", "Hyper-V-PowerShell"}
ApiProbe = Callable[[str, int], str]


HOST_LOCAL_DIR = "/usr/lib/cni"
"""Debian's containernetworking-plugins, which .ci/run installs."""


class WindowsScripts(ServiceScripts):
    """Every Windows step script's handler; ``kube`` and ``realiser`` tie it to the cluster and the lab."""

    def __init__(
        self,
        kube: KubeSide | None = None,
        realiser: NetworkRealiser | None = None,
        api_probe: ApiProbe | None = None,
    ) -> None:
        self.kube = kube or KubeSide(None)
        self.realiser = realiser or NullRealiser()
        self.api_probe = api_probe

    def register(self, registry: ScriptRegistry) -> ScriptRegistry:
        """Add the handlers to ``registry``."""
        register_reads(registry, self)
        registry.register("win/smoke-image", smoke_image)
        for name in (
            "remove-paths",
            "install-features",
            "remove-features",
            "create-directories",
            "run-file",
            "install-artifact",
            "containerd-service",
            "service-control",
            "nssm-service",
            "hns-network",
            "protect-paths",
            "boot-task",
            "reset",
            "source-vip",
        ):
            registry.register(f"win/{name}", getattr(self, name.replace("-", "_")))
        return registry

    def api_result(self, host: str, port: int) -> str:
        """What the preflight's TCP connect to the API endpoint sees."""
        if self.api_probe is not None:
            return self.api_probe(host, port)
        cluster = self.kube.cluster
        return "connected" if cluster is not None and cluster.read()["initialized"] else "refused"

    # --- files and directories -------------------------------------------------------------------

    def remove_paths(self, ctx: ScriptContext) -> None:
        """Remove-Item -Recurse -Force for each existing path (as the script's Remove-Item call does)."""
        paths = [str(p) for p in ctx.require("Paths") if ctx.machine.exists(str(p))]
        remove_each(ctx, paths, "$Paths")
        reply(ctx, {"removed": paths})

    def create_directories(self, ctx: ScriptContext) -> None:
        """New-Item -ItemType Directory for the missing ones (parents too), when the script makes that
        call for each of its ``$Paths``."""
        creates = [
            c
            for c in script_calls(ctx).each("New-Item", ("Path", "LiteralPath"), "$Paths")
            if c.argument("ItemType") in ("directory", "'directory'")
        ]
        created = []
        for path in [str(p) for p in ctx.require("Paths")]:
            if path_key(path) in ctx.machine.directories:
                continue
            created.append(path)
            if creates:
                make_directory(ctx.machine, path)
        reply(ctx, {"created": created})

    def run_file(self, ctx: ScriptContext) -> None:
        """Run an installed rendered script: firewall.ps1 and routes.ps1 are understood, others refused."""
        path = str(ctx.require("Path"))
        text = checked_script(ctx, path)
        if path_key(path).endswith("\\firewall.ps1"):
            reply(ctx, {"output": run_firewall(ctx, text)})
        elif path_key(path).endswith("\\routes.ps1"):
            reply(ctx, {"output": run_routes(ctx, text, self.realiser)})
        else:
            ctx.fail(f"the simulated host does not know how to run {path}", "UnknownScript")

    # --- features ----------------------------------------------------------------------------------

    def install_features(self, ctx: ScriptContext) -> None:
        """Install-WindowsFeature: InstallPending until a restart when the machine says so."""
        installed, restart = [], False
        calls = script_calls(ctx).each("Install-WindowsFeature", ("Name",), "$Names")
        for name in [str(n) for n in ctx.require("Names")]:
            if name not in KNOWN_FEATURES:
                ctx.fail(f"ArgumentException: The role, role service, or feature name is not valid: '{name}'")
            state = ctx.machine.feature_states.get(name, "Available")
            if state in ("Installed", "InstallPending"):
                restart = restart or state == "InstallPending"
                continue
            if not calls:
                continue  # the script never calls Install-WindowsFeature for its $Names
            ctx.machine.feature_states[name] = (
                "InstallPending" if ctx.machine.features_need_restart else "Installed"
            )
            installed.append(name)
            restart = restart or ctx.machine.features_need_restart
        reply(ctx, {"installed": installed, "restartNeeded": restart})

    def remove_features(self, ctx: ScriptContext) -> None:
        """Uninstall-WindowsFeature: UninstallPending until a restart."""
        removed = []
        calls = script_calls(ctx).each("Uninstall-WindowsFeature", ("Name",), "$Names")
        for name in [str(n) for n in ctx.require("Names")]:
            if calls and ctx.machine.feature_states.get(name) == "Installed":
                ctx.machine.feature_states[name] = "UninstallPending"
                removed.append(name)
        reply(ctx, {"removed": removed, "restartNeeded": bool(removed)})

    # --- artifacts ---------------------------------------------------------------------------------

    def install_artifact(self, ctx: ScriptContext) -> None:
        """Extract the wanted members of a downloaded artifact, update PATH and the record."""
        source, destination = str(ctx.require("Source")), str(ctx.require("Destination"))
        data = _read(ctx, source)
        if hashlib.sha256(data).hexdigest() != str(ctx.require("Sha256")).lower():
            ctx.fail(f"{source} does not have the sha256 it was downloaded with")
        calls = script_calls(ctx)
        members = _members(ctx, source, data) if _extracts(calls, source) else {}
        copies = calls.inside("Copy-Item", "$Files")
        files, names = [str(f) for f in ctx.require("Files")], [str(n) for n in ctx.require("Names")]
        if len(files) != len(names):
            ctx.fail(f"{len(files)} files but {len(names)} names")
        installed = {}
        for suffix, name in zip(files, names, strict=True):
            content = _member(ctx, members, suffix, source)
            target = destination + "\\" + name
            if copies:
                ctx.machine.write_file(target, content)
            installed[target] = hashlib.sha256(_read(ctx, target)).hexdigest()
        if set_machine_path(calls):
            self._path_entry(ctx, str(ctx.param("PathEntry") or ""))
        if any(c.argument("LiteralPath", "FilePath", "Path") == "$recordpath" for c in calls.of("Out-File")):
            self._record(ctx, installed)
        reply(ctx, {"files": installed})

    def _path_entry(self, ctx: ScriptContext, entry: str) -> None:
        entries = [e for e in ctx.machine.machine_path.split(";") if e]
        if entry and entry not in entries:
            ctx.machine.machine_path = ";".join([*entries, entry])

    def _record(self, ctx: ScriptContext, installed: dict[str, str]) -> None:
        path = str(ctx.require("RecordPath"))
        record = json.loads(ctx.machine.read_file(path)) if ctx.machine.has_file(path) else {}
        record[str(ctx.require("Name"))] = {
            "url": str(ctx.require("Url")),
            "sha256": str(ctx.require("Sha256")).lower(),
            "files": installed,
        }
        ctx.machine.write_file(path, json.dumps(record, indent=2).encode("ascii"))

    # --- network, task, reset ------------------------------------------------------------------------

    def source_vip(self, ctx: ScriptContext) -> None:
        """win/source-vip: the real host-local (Debian's containernetworking-plugins build of the code the
        Windows build runs) allocates from the request hybridctl sent, in a directory holding a copy of the
        simulated store; what it writes there becomes the machine's store."""
        if not ctx.machine.has_file(str(ctx.require("HostLocal"))):
            ctx.fail(f"{ctx.require('HostLocal')} is not installed")
        request = json.loads(str(ctx.require("Request")))
        store = "C:\\var\\lib\\cni\\networks\\" + str(request["name"])
        if request["ipam"].get("dataDir") != "/var/lib/cni/networks":
            ctx.fail(f"host-local store {request['ipam'].get('dataDir')!r} is not the CNI plugin's")
        with tempfile.TemporaryDirectory() as work:
            folder = Path(work) / str(request["name"])
            folder.mkdir()
            prefix = path_key(store) + "\\"
            for key, data in list(ctx.machine.files.items()):
                if key.startswith(prefix):
                    (folder / key[len(prefix) :]).write_bytes(bytes(data))
            request["ipam"]["dataDir"] = work
            done = _host_local(ctx, json.dumps(request), work)
            for item in folder.iterdir():
                if item.name != "lock":
                    ctx.machine.write_file(store + "\\" + item.name, item.read_bytes())
        address = json.loads(done)["ips"][0]["address"].split("/")[0]
        reply(ctx, {"address": address})

    def hns_network(self, ctx: ScriptContext) -> None:
        """win/hns-network against the HNS model (windows_hns.py), doing what the script sent does as read
        from its syntax tree (windows_hns_script.py): judge, replace, wait, attach, forward."""
        definition = _definition(ctx, str(ctx.require("DefinitionPath")))
        script = read_hns_network_script(ctx.script or powershell_script("win/hns-network"))
        machine, name = ctx.machine, definition["Name"]
        try:
            with machine.lock:
                created = self._network(ctx, definition, script)
            self._wait(ctx, name, script, float(ctx.param("TimeoutSeconds", 60)))
            with machine.lock:
                made = _host_endpoint(machine, name, definition["HostEndpoint"], script)
                for source in script.forwarding:
                    _set_forwarding(ctx, definition, source)
        except hns.HnsError as exc:
            ctx.fail(f"HNS call failed: {exc}")
        self.kube.update_ready(machine)
        reply(ctx, {"networkCreated": created, "endpointCreated": made})

    def _network(self, ctx: ScriptContext, definition: dict[str, Any], script: HnsNetworkScript) -> bool:
        machine, name = ctx.machine, definition["Name"]
        network = machine.hns_networks.get(name)
        if network is not None and not _network_matches(hns.reported_network(network), definition, script):
            pods = [
                n
                for n, e in machine.hns_endpoints.items()
                if e["network"] == name and n != definition["HostEndpoint"]["Name"]
            ]
            if pods and script.refuses_with_pods:
                ctx.fail(
                    f"HNS network {name} differs from hns-network.json "
                    f"but {len(pods)} pod endpoints are attached"
                )
            for other in [n for n, e in machine.hns_endpoints.items() if e["network"] == name]:
                del machine.hns_endpoints[other]
            hns.delete_network(machine, name)
            self.realiser.delete_network(name)
            network = None
        if network is not None:
            return False
        machine.hns_endpoints.pop(definition["HostEndpoint"]["Name"], None)
        first = not machine.hns_networks
        request = {
            "Name": name,
            "Type": definition["Type"],
            "NetworkAdapterName": definition["AdapterName"],
            "Subnets": [
                {"AddressPrefix": definition["AddressPrefix"], "GatewayAddress": definition["Gateway"]}
            ],
        }
        hns.create_network(machine, request)
        self.realiser.create_network(
            name, definition["AddressPrefix"], definition["HostEndpoint"]["IPAddress"]
        )
        if first and machine.nic_rebinds and ctx.host.power is not None:
            ctx.host.power.drop_connections()  # the NIC moves to the new vSwitch
        return True

    def _wait(self, ctx: ScriptContext, name: str, script: HnsNetworkScript, timeout: float) -> None:
        """Poll (Wait-ManagementAddress), sleep once (Start-Sleep) or not wait, as the script does."""
        if script.wait == "poll":
            self._wait_management_ip(ctx, name, timeout)
        elif script.wait == "sleep":
            ctx.sleep(script.sleep_seconds)

    def _wait_management_ip(self, ctx: ScriptContext, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while hns.management_ip(ctx.machine, name) is None:
            if time.monotonic() > deadline:
                ctx.fail(
                    f"HNS network {name}: no interface holds its management IP after {timeout:g} seconds"
                )
            ctx.sleep(0.5)

    def protect_paths(self, ctx: ScriptContext) -> None:
        """The ACL the script builds (read from its calls: protection, one rule per SID it loops over),
        set on each existing path when the script applies it (``SetAccessControl``)."""
        acl = built_acl(script_calls(ctx))
        done = []
        for path in [str(p) for p in ctx.require("Paths")]:
            if ctx.machine.exists(path):
                if acl is not None:
                    ctx.machine.acls[path_key(path)] = dict(acl)
                done.append(path)
        reply(ctx, {"protected": done})

    def reset(self, ctx: ScriptContext) -> None:
        """Everything win/reset removes, skipping what is gone."""
        machine, removed, script = ctx.machine, [], script_calls(ctx)
        for name in [str(n) for n in ctx.param("NssmServices") or []]:
            removed += self._remove_service(ctx, name, "$name")
        removed += _remove_sandboxes(ctx)
        removed += self._remove_service(ctx, "containerd", "'containerd'")
        self.kube.update_ready(machine)
        removed += _reset_hns(ctx, self.realiser)
        removed += self._reset_routes(ctx)
        prefix = str(ctx.param("FirewallPrefix") or "") if script.of("Remove-NetFirewallRule") else ""
        for name in [n for n in machine.firewall_rules if prefix and n.startswith(prefix)]:
            del machine.firewall_rules[name]
            removed.append(f"firewall rule {name}")
        unregisters = script.each("Unregister-ScheduledTask", ("TaskName",), "$TaskNames")
        for task in [str(t) for t in ctx.param("TaskNames") or []]:
            if task in machine.scheduled_tasks:
                if unregisters:
                    del machine.scheduled_tasks[task]
                    machine.task_last_run.pop(task, None)
                removed.append(f"task {task}")
        paths = [str(d) for d in ctx.param("Directories") or [] if machine.exists(str(d))]
        for path in paths:
            _refuse_in_use(ctx, path)
        remove_each(ctx, paths, "$Directories")
        if not machine.exists(CONTAINERD_DATA):
            machine.images.clear()  # the image store lives under containerd's root
        removed += [f"directory {p}" for p in paths]
        drop = {str(e) for e in ctx.param("PathEntries") or []}
        if set_machine_path(script):
            kept = [e for e in machine.machine_path.split(";") if e and e not in drop]
            machine.machine_path = ";".join(kept)
        reply(ctx, {"removed": removed})

    def _remove_service(self, ctx: ScriptContext, name: str, source: str) -> list[str]:
        """Stop (when the script calls ``Stop-Service -Name <source>``) and delete a service (when it
        calls ``nssm remove``, ``containerd --unregister-service`` or ``sc.exe delete`` on it). Deleting
        a running service only marks it for deletion and its process keeps running (sc.exe delete: "If
        the service is running ... the service is marked for deletion", learn.microsoft.com
        windows-server sc-delete), so a script that does not stop it leaves the agent running."""
        service, script = ctx.machine.services.get(name), script_calls(ctx)
        if service is None:
            return []
        stops = any(c.argument("Name") == source for c in script.of("Stop-Service"))
        if service.status != "Stopped" and stops:
            self.kube.stop(ctx.machine, name)
        tool = str(ctx.param("ContainerdExe" if name == "containerd" else "Nssm") or "")
        if _deletes_service(script, source, bool(tool) and ctx.machine.has_file(tool)):
            del ctx.machine.services[name]
        return [f"service {name}"]

    def _reset_routes(self, ctx: ScriptContext) -> list[str]:
        if not script_calls(ctx).of("Remove-NetRoute"):
            return []  # the script sent makes no Remove-NetRoute call: nothing is removed
        alias, prefixes = (
            str(ctx.param("RouteInterface") or ""),
            {str(p) for p in ctx.param("RoutePrefixes") or []},
        )
        gone = [
            r
            for r in ctx.machine.routes
            if r["interfaceAlias"] == alias and r["destinationPrefix"] in prefixes
        ]
        for route in gone:
            ctx.machine.routes.remove(route)
            if route["store"] == "ActiveStore":
                self.realiser.remove_route(route["destinationPrefix"], route["nextHop"])
        return [f"route {r['destinationPrefix']} {r['store']}" for r in gone]


def _deletes_service(script: ScriptCalls, source: str, tool: bool) -> bool:
    """Whether the script deletes the service ``source`` names (``$name`` or ``'containerd'``) in the
    branch it takes: with its tool installed ``nssm remove`` / ``containerd --unregister-service``,
    otherwise ``sc.exe delete``."""
    bare = source.strip("'")
    if not tool:
        return any("delete" in c.words and {source, bare} & set(c.words) for c in script.of("sc.exe"))
    if bare == "containerd":
        return any("--unregister-service" in c.words for c in script.of("$ContainerdExe"))
    return any("remove" in c.words and source in c.words for c in script.of("$Nssm"))


def remove_each(ctx: ScriptContext, paths: list[str], collection: str) -> None:
    """``Remove-Item -LiteralPath $path`` in ``foreach ($path in <collection>)``, as the script makes it:
    without ``-Recurse`` a directory with children is not removed (the confirmation prompt fails in a
    non-interactive remote session), without the call nothing is."""
    removes = script_calls(ctx).each("Remove-Item", ("LiteralPath", "Path"), collection)
    if not removes:
        return
    recurse = any(c.has("Recurse") for c in removes)
    for path in paths:
        key = path_key(path)
        children = any(k.startswith(key + "\\") for k in (*ctx.machine.files, *ctx.machine.directories))
        if children and not recurse:
            ctx.fail(
                f"Remove-Item: The item at {path} has children and the Recurse parameter was not "
                "specified. Windows PowerShell is in NonInteractive mode. Read and Prompt functionality "
                "is not available.",
                "RemoveItemCommand",
            )
        ctx.machine.delete_tree(path)


def make_directory(machine: WindowsMachine, path: str) -> None:
    """New-Item -ItemType Directory: the directory and its missing parents."""
    parts = path_key(path).split("\\")
    machine.directories.update("\\".join(parts[:i]) for i in range(2, len(parts) + 1))


def set_machine_path(script: ScriptCalls) -> bool:
    """Whether the script writes the machine PATH (``[Environment]::SetEnvironmentVariable('Path', ...,
    'Machine')``)."""
    return any(
        m.target == "[environment]" and m.arguments[:1] == ("'path'",) and m.arguments[-1:] == ("'machine'",)
        for m in script.method("SetEnvironmentVariable")
    )


def built_acl(script: ScriptCalls) -> dict[str, Any] | None:
    """The ACL protect-paths builds: inheritance off when it calls ``SetAccessRuleProtection($true, ...)``,
    a FileSystemAccessRule per SecurityIdentifier it loops over and adds (``AddAccessRule``), the rights
    and type of that rule. None when the script never applies it (``SetAccessControl``/``Set-Acl``)."""
    if not script.method("SetAccessControl") and not script.of("Set-Acl"):
        return None
    protected = any(m.arguments[:1] == ("$true",) for m in script.method("SetAccessRuleProtection"))
    rules: list[str] = []
    for add in script.method("AddAccessRule"):
        for rule in [c for v, c in script.assigned if v == (add.arguments or ("",))[0]]:
            if rule.argument("TypeName") != "system.security.accesscontrol.filesystemaccessrule":
                continue
            padded = (*rule.literals, "", "", "")
            identity = (rule.argument("ArgumentList") or "").split(",")[0]
            for variable, collection in add.loops:
                if variable == identity:
                    rules += [f"{sid}:{padded[2]}:{padded[0]}" for sid in _sids(script, collection)]
    return {"protected": protected, "rules": rules}


def _sids(script: ScriptCalls, collection: str) -> list[str]:
    """The SIDs of the SecurityIdentifier objects a loop ``foreach ($sid in @($a, $b))`` visits."""
    names = collection.removeprefix("@(").removesuffix(")").split(",")
    found = []
    for name in names:
        for call in script.source(name):
            if call.argument("TypeName") == "system.security.principal.securityidentifier" and call.literals:
                found.append(call.literals[0])
    return found


def _extracts(script: ScriptCalls, source: str) -> bool:
    """Whether the script unpacks ``$Source`` the way its name asks: Expand-Archive for .zip, tar.exe for
    .tgz/.tar.gz, Copy-Item otherwise."""
    lowered = source.lower()
    if lowered.endswith(".zip"):
        return any(c.argument("LiteralPath", "Path") == "$source" for c in script.of("Expand-Archive"))
    if lowered.endswith((".tgz", ".tar.gz")):
        return any("$source" in c.words for c in script.of("tar.exe"))
    return any(c.argument("LiteralPath", "Path") == "$source" for c in script.of("Copy-Item"))


def _host_local(ctx: ScriptContext, request: str, work: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": str(ctx.require("ContainerId")),
        "CNI_NETNS": "none",
        "CNI_IFNAME": str(ctx.require("IfName")),
        "CNI_PATH": HOST_LOCAL_DIR,
    }
    done = subprocess.run(
        [HOST_LOCAL_DIR + "/host-local"], input=request, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        ctx.fail(f"host-local failed (exit {done.returncode}): {done.stdout} {done.stderr}".strip())
    return done.stdout


def _definition(ctx: ScriptContext, path: str) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(_read(ctx, path))
    prefix = ipaddress.ip_network(definition["AddressPrefix"], strict=True)
    if definition.get("Type") != "L2Bridge":
        ctx.fail(f"HNS: network type {definition.get('Type')!r} is not L2Bridge")
    for address in (definition["Gateway"], definition["HostEndpoint"]["IPAddress"]):
        if ipaddress.ip_address(address) not in prefix:
            ctx.fail(f"HNS: {address} is outside {prefix}")
    return definition


def _read(ctx: ScriptContext, path: str) -> bytes:
    try:
        return ctx.machine.read_file(path)
    except FileNotFoundError:
        ctx.fail(f"Cannot find path '{path}' because it does not exist.", "PathNotFound")


def _members(ctx: ScriptContext, source: str, data: bytes) -> dict[str, bytes]:
    lowered = source.lower()
    if lowered.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}
    if lowered.endswith((".tgz", ".tar.gz")):
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]
    return {source.replace("\\", "/").rsplit("/", 1)[-1]: data}


def _member(ctx: ScriptContext, members: dict[str, bytes], suffix: str, source: str) -> bytes:
    for name, content in members.items():
        if ("/" + name.lstrip("./")).lower().endswith("/" + suffix.lower()):
            return content
    ctx.fail(f"{source} has no file {suffix}")


def _network_matches(reported: dict[str, Any], definition: dict[str, Any], script: HnsNetworkScript) -> bool:
    """What the script's Test-NetworkMatch decides on an HNS answer: its Type comparison (case-insensitive
    ``-ne`` in the shipped script), the adapter name if it compares it, the subnet's prefix and gateway."""
    adapter_ok = not script.compares_adapter or reported["adapter"] == definition["AdapterName"]
    return (
        script.type_matches(str(reported["type"]), str(definition["Type"]))
        and adapter_ok
        and reported["addressPrefix"] == definition["AddressPrefix"]
        and reported["gateway"] == definition["Gateway"]
    )


def _host_endpoint(
    machine: WindowsMachine, network: str, wanted: dict[str, Any], script: HnsNetworkScript
) -> bool:
    """Create the host endpoint when missing or wrong; attach it where the script does; recreate it when
    its vNIC is missing and the script says so."""
    name, made = wanted["Name"], False
    endpoint = machine.hns_endpoints.get(name)
    if endpoint is not None and (endpoint["ipAddress"], endpoint["network"]) != (
        wanted["IPAddress"],
        network,
    ):
        del machine.hns_endpoints[name]
        endpoint = None
    if endpoint is None:
        hns.create_endpoint(machine, name, network, wanted["IPAddress"])
        made = True
    if script.attach_every_run:
        _attach(machine, name, script)
    if f"vEthernet ({name})" not in hns.interfaces(machine) and script.recreates_missing_vnic:
        del machine.hns_endpoints[name]
        hns.create_endpoint(machine, name, network, wanted["IPAddress"])
        made = True
        if script.attach_on_create:
            _attach(machine, name, script)
    return made


def _attach(machine: WindowsMachine, name: str, script: HnsNetworkScript) -> None:
    try:
        hns.attach(machine, name)
    except hns.HnsError as exc:
        if hns.ALREADY_ATTACHED not in str(exc) or not script.attach_tolerates_attached:
            raise


def _set_forwarding(ctx: ScriptContext, definition: dict[str, Any], source: str) -> None:
    """Set-NetIPInterface -Forwarding Enabled on the host endpoint's vNIC or on the adapter's."""
    aliases = {
        "bridge": f"vEthernet ({definition['HostEndpoint']['Name']})",
        "adapter": str(ctx.require("InterfaceAlias")),
    }
    alias = aliases.get(source)
    if alias is None:
        ctx.fail("hns-network.ps1: Set-NetIPInterface on an interface the simulated host cannot resolve")
    if alias not in hns.interfaces(ctx.machine):
        ctx.fail(
            "Set-NetIPInterface: No MSFT_NetIPInterface objects found with property "
            f"'InterfaceAlias' equal to '{alias}'.",
            "CmdletizationQuery_NotFound_InterfaceAlias",
        )


CONTAINERD_DATA = "C:\\ProgramData\\containerd"
CONTAINERD_ROOT = CONTAINERD_DATA + "\\root"


def _remove_sandboxes(ctx: ScriptContext) -> list[str]:
    """win/reset's ``crictl rmp --all --force``, realised only when the script sent makes that call (from
    its syntax tree) and it can work: crictl.exe installed and the containerd service running. Every
    sandbox stops (StopPodSandbox runs CNI DEL: sdnbridge deletes the pod's HNS endpoint) and goes."""
    machine = ctx.machine
    containerd = machine.services.get("containerd")
    path = str(ctx.param("Crictl") or "")
    if not _calls_crictl_rmp(ctx) or containerd is None or containerd.status != "Running":
        return []
    if not path or not machine.has_file(path):
        return []
    if str(ctx.param("RuntimeEndpoint") or "") != "npipe:////./pipe/containerd-containerd":
        ctx.fail("crictl rmp --all --force failed: the runtime endpoint is not containerd's pipe")
    for sandbox in list(machine.sandboxes.values()):
        machine.hns_endpoints.pop(str(sandbox["endpoint"]), None)
    machine.sandboxes.clear()
    return ["pod sandboxes"]


def _calls_crictl_rmp(ctx: ScriptContext) -> bool:
    """Whether the script runs ``& $Crictl ... rmp`` with ``--all`` and ``--force`` (syntax tree)."""
    for node in walk(parse(ctx.script).root_node) if ctx.script else []:
        name = node.child_by_field_name("command_name") if node.type == "command" else None
        if name is None or name.text.decode().lower() != "$crictl":
            continue
        elements = node.child_by_field_name("command_elements")
        words = {c.text.decode() for c in (elements.children if elements else [])}
        if "rmp" in words and {"--all", "-a"} & words and {"--force", "-f"} & words:
            return True
    return not ctx.script


def _refuse_in_use(ctx: ScriptContext, path: str) -> None:
    """Remove-Item of containerd's root while a pod runs: the running container keeps its scratch layer
    (sandbox.vhdx under the windows snapshotter's root) open, and Windows refuses to delete a file that
    is in use."""
    if not ctx.machine.sandboxes:
        return
    root = path_key(CONTAINERD_ROOT)
    if root == path_key(path) or root.startswith(path_key(path) + "\\"):
        ctx.fail(
            f"Remove-Item: The process cannot access the file '{CONTAINERD_ROOT}\\...\\sandbox.vhdx' "
            "because it is being used by another process.",
            "RemoveFileSystemItemIOError",
        )


def _reset_hns(ctx: ScriptContext, realiser: NetworkRealiser) -> list[str]:
    """win/reset's HNS part: DELETE the named endpoints and every endpoint on a named network, then the
    networks; an HNS error ends the script (HNS refuses a network that still has endpoints)."""
    machine, removed = ctx.machine, []
    names = {str(n) for n in ctx.param("Endpoints") or []}
    networks = [str(n) for n in ctx.param("Networks") or []]
    for name, endpoint in list(machine.hns_endpoints.items()):
        if name in names or endpoint["network"] in networks:
            del machine.hns_endpoints[name]
            removed.append(f"hns endpoints {name}")
    for name in [n for n in networks if n in machine.hns_networks]:
        try:
            hns.delete_network(machine, name)
        except hns.HnsError as exc:
            ctx.fail(f"HNS DELETE of networks {name} failed: {exc}")
        realiser.delete_network(name)
        removed.append(f"hns networks {name}")
    return removed


def utc_stamp(offset: float = 0.0) -> str:
    """Now (shifted by ``offset`` seconds) as ``yyyy-MM-ddTHH:mm:ss.fffZ``."""
    now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=offset)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def register_windows(registry: ScriptRegistry, scripts: WindowsScripts | None = None) -> WindowsScripts:
    """Register every Windows step script handler; returns the ``WindowsScripts`` it used."""
    chosen = scripts or WindowsScripts()
    chosen.register(registry)
    return chosen


__all__ = ["WindowsScripts", "agent_context", "fetch_url", "register_windows", "utc_stamp"]
