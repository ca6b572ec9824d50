"""The simulated host's network side: HNS networks and routes, and the rendered scripts that change them.

Simulated: HNS. By default nothing outside the model changes (``NullRealiser``); the lab passes a
realiser that turns each HNS L2Bridge network into a Linux bridge and each route into a kernel route
inside the host's network namespace. The rendered ``routes.ps1`` and ``firewall.ps1`` are read with the
real tree-sitter PowerShell grammar (every cmdlet call with its literal parameters), never by running them;
a script with a call that does not fit the cmdlet's documented signature (``tests/support/ps_signatures.py``)
is refused, as PowerShell's parameter binder would stop it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Protocol

from tests.support.powershell import invocations, parse, problems, single_quoted_literals, walk
from tests.support.ps_signatures import check_script
from tests.support.winrm.host import ScriptContext
from tests.support.winrm.script_calls import read_calls

STORES = ("ActiveStore", "PersistentStore")
_ROUTE_KEY = re.compile(r"[0-9.]+/\d+\|[0-9.]+")


class NetworkRealiser(Protocol):
    """What happens outside the model when HNS or the routing table changes."""

    def create_network(self, name: str, prefix: str, endpoint_ip: str) -> None:
        """An L2Bridge network with its host endpoint address."""

    def delete_network(self, name: str) -> None:
        """The network is gone."""

    def add_route(self, destination: str, next_hop: str) -> None:
        """A route to ``destination`` via ``next_hop``."""

    def remove_route(self, destination: str, next_hop: str) -> None:
        """The route is gone."""


class NullRealiser:
    """Changes nothing outside the model."""

    def create_network(self, name: str, prefix: str, endpoint_ip: str) -> None:
        """Nothing."""

    def delete_network(self, name: str) -> None:
        """Nothing."""

    def add_route(self, destination: str, next_hop: str) -> None:
        """Nothing."""

    def remove_route(self, destination: str, next_hop: str) -> None:
        """Nothing."""


def checked_script(ctx: ScriptContext, path: str) -> str:
    """The text of an installed script file; a syntax or binding error fails as PowerShell would."""
    try:
        text = ctx.machine.read_file(path).decode("utf-8")
    except FileNotFoundError:
        ctx.fail(f"{path} is not installed", "PathNotFound")
    found = problems(text)
    if found:
        ctx.fail(f"{path}: ParserError: {found[0]}", "ParseException")
    unbound = check_script(text, path)
    if unbound:
        ctx.fail(f"{path}: ParameterBindingException: {unbound[0]}", "ParameterBindingException")
    return text


def run_routes(ctx: ScriptContext, text: str, realiser: NetworkRealiser) -> list[str]:
    """What routes.ps1 does: drop hybridctl-metric routes not wanted, add each wanted one once."""
    wanted = _wanted_routes(ctx, text)
    alias, metric = _route_settings(ctx, text)
    cleaned = removal_stores(text)
    output = []
    with ctx.machine.lock:
        for route in list(ctx.machine.routes):
            key = (route["destinationPrefix"], route["nextHop"])
            if route["store"] not in cleaned:
                continue
            if route["interfaceAlias"] == alias and route["routeMetric"] == metric and key not in wanted:
                ctx.machine.routes.remove(route)
                realiser.remove_route(*key)
                output.append(f"removing stale route {key[0]}|{key[1]} from {route['store']}")
        for destination, hop in sorted(wanted):
            output += _add_route(ctx, (alias, metric), destination, hop, realiser)
    return output


def removal_stores(text: str) -> set[str]:
    """The route stores the script cleans of stale routes, from its syntax tree: the literal ``-Store`` of
    each call to a function of the script whose body calls ``Remove-NetRoute`` (a script that forgets to
    remove routes leaves them in the simulated host)."""
    cleaners = set()
    for node in walk(parse(text).root_node):
        if node.type == "function_statement" and invocations(node.text.decode(), "Remove-NetRoute"):
            name = next((c.text.decode() for c in node.children if c.type == "function_name"), "")
            cleaners.add(name.lower())
    stores = set()
    for call in invocations(text):
        if call.name.lower() in cleaners and "Store" in call.parameters:
            stores.add(call.literal("Store"))
    return stores


def _add_route(
    ctx: ScriptContext, where: tuple[str, int], destination: str, hop: str, realiser: NetworkRealiser
) -> list[str]:
    alias, metric = where
    key = (destination, hop)
    present = {r["store"] for r in ctx.machine.routes if (r["destinationPrefix"], r["nextHop"]) == key}
    if present == set(STORES):
        return []
    for store in [s for s in STORES if s not in present]:
        ctx.machine.routes.append(
            {
                "destinationPrefix": destination,
                "nextHop": hop,
                "routeMetric": metric,
                "interfaceAlias": alias,
                "store": store,
            }
        )
    if "ActiveStore" not in present:
        realiser.add_route(destination, hop)
    return [f"added route {destination}"]


def _wanted_routes(ctx: ScriptContext, text: str) -> set[tuple[str, str]]:
    calls = invocations(text, "New-NetRoute")
    wanted = set()
    for call in calls:
        try:
            destination, hop = call.literal("DestinationPrefix"), call.literal("NextHop")
            call.literal("InterfaceAlias")
            int(call.parameters.get("RouteMetric") or "x")
            ipaddress.ip_network(destination, strict=True)
            ipaddress.ip_address(hop)
        except (KeyError, ValueError) as exc:
            ctx.fail(f"New-NetRoute at line {call.line}: {exc}", "ParameterBindingException")
        wanted.add((destination, hop))
    listed = {tuple(v.split("|", 1)) for v in single_quoted_literals(text) if _ROUTE_KEY.fullmatch(v)}
    if listed != wanted:
        ctx.fail(
            f"routes.ps1: $Wanted {sorted(listed)} does not match its New-NetRoute calls {sorted(wanted)}"
        )
    return wanted


def _route_settings(ctx: ScriptContext, text: str) -> tuple[str, int]:
    aliases = {call.literal("InterfaceAlias") for call in invocations(text, "New-NetRoute")}
    metrics = {int(call.parameters["RouteMetric"] or 0) for call in invocations(text, "New-NetRoute")}
    if len(aliases) > 1 or len(metrics) > 1:
        ctx.fail("routes.ps1 uses several interfaces or metrics")
    alias = aliases.pop() if aliases else _literal_after(text, "$InterfaceAlias = ")
    return alias, metrics.pop() if metrics else 300


def _literal_after(text: str, marker: str) -> str:
    for line in text.splitlines():
        if line.startswith(marker):
            return line[len(marker) :].strip().strip("'")
    return ""


def run_firewall(ctx: ScriptContext, text: str) -> list[str]:
    """What firewall.ps1 does: set each rule it names, remove hybridctl-* rules it does not."""
    wanted: dict[str, dict[str, Any]] = {}
    for call in invocations(text, "Set-HybridctlRule"):
        try:
            rule = {k: call.literal(k) for k in ("Name", "DisplayName", "Direction", "Protocol", "Port")}
        except KeyError as exc:
            ctx.fail(f"Set-HybridctlRule at line {call.line}: {exc}", "ParameterBindingException")
        if rule["Direction"] not in ("Inbound", "Outbound") or rule["Protocol"] not in ("TCP", "UDP"):
            ctx.fail(f"New-NetFirewallRule: invalid direction or protocol in {rule}")
        wanted[rule["Name"]] = rule
    output, calls = [], read_calls(text)
    # Effects from the script's own calls (syntax tree): stale rules go only through its
    # Remove-NetFirewallRule in the loop over them, rules appear only through New-NetFirewallRule with the
    # direction and port parameter of that rule.
    removes = calls.inside("Remove-NetFirewallRule", "$stale")
    creates = {
        (str(c.argument("Direction")), "localport" if c.argument("LocalPort") else "remoteport")
        for c in calls.of("New-NetFirewallRule")
        if c.argument("Name") == "$name"
    }
    with ctx.machine.lock:
        for name in [n for n in ctx.machine.firewall_rules if n.startswith("hybridctl-") and n not in wanted]:
            if removes:
                del ctx.machine.firewall_rules[name]
            output.append(f"removing {name}")
        for name, rule in wanted.items():
            inbound = rule["Direction"] == "Inbound"
            if (rule["Direction"].lower(), "localport" if inbound else "remoteport") not in creates:
                output.append(f"changed {name}")
                continue
            state = {
                "name": name,
                "direction": rule["Direction"],
                "action": "Allow",
                "enabled": "True",
                "protocol": rule["Protocol"],
                "localPort": rule["Port"] if inbound else "Any",
                "remotePort": "Any" if inbound else rule["Port"],
            }
            changed = ctx.machine.firewall_rules.get(name) != state
            ctx.machine.firewall_rules[name] = state
            output.append(("changed " if changed else "unchanged ") + name)
    return output
