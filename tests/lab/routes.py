"""Route tables of a lab cluster read from outside each host, compared in full.

Real: the Linux test hosts' kernel routes (``ip -j route``) and the kernel routes inside the simulated
Windows hosts' namespaces. Emulated: the Windows route stores (``Get-NetRoute``'s Active/PersistentStore),
kept by the simulated host from what routes.ps1 and reset.ps1 do.
"""

from __future__ import annotations

import json

from tests.lab.e2e import HybridLab, WindowsNode
from tests.support.linux_hosts import TestHost

STORES = ("ActiveStore", "PersistentStore")


def linux_routes(host: TestHost) -> set[str]:
    """Destinations of hybridctl's kernel routes (proto 233) on a Linux host."""
    out = host.exec("ip", "-4", "route", "show", "proto", "233").stdout
    return {line.split()[0] for line in out.splitlines()}


def windows_routes(node: WindowsNode) -> set[str]:
    """Destinations of the kernel routes in a simulated Windows host's namespace."""
    return {destination for destination, _ in node.lab_host.realiser.kernel_routes()}


def full_routes(lab: HybridLab, name: str) -> list[tuple[str, str]]:
    """(pod CIDR, node address) of every other node, sorted: what ``name`` must route, once each."""
    addresses = {h.name: h.address for h in lab.linux} | {n.name: n.address for n in lab.windows}
    nodes = lab.sim.model.nodes()
    return sorted((n["podCIDR"], addresses[other]) for other, n in nodes.items() if other != name)


def linux_route_list(host: TestHost) -> list[tuple[str, str, str]]:
    """hybridctl's kernel routes (proto 233) read from outside with ``ip -j``: dst, gateway, device."""
    out = host.exec("ip", "-4", "-j", "route", "show", "table", "all", "proto", "233").stdout
    return sorted((r["dst"], r.get("gateway", ""), r.get("dev", "")) for r in json.loads(out or "[]"))


def windows_route_list(node: WindowsNode) -> list[tuple[str, str, str, str]]:
    """The emulated host's routes as Get-NetRoute lists them: destination, next hop, interface, store."""
    keys = ("destinationPrefix", "nextHop", "interfaceAlias", "store")
    return sorted(tuple(r[k] for k in keys) for r in node.simulated.machine.routes)  # type: ignore[misc]


def assert_route_tables(lab: HybridLab) -> None:
    """Full routes on every node of the cluster, from outside it: destination, next hop, device/interface
    and count (a duplicate or a route on the wrong device fails), both in the kernels and in the Windows
    route stores."""
    nodes = lab.sim.model.nodes()
    for host in lab.linux:
        if host.name in nodes:
            wanted = [(d, via, "eth0") for d, via in full_routes(lab, host.name)]
            assert linux_route_list(host) == wanted, host.name
    for node in lab.windows:
        if node.name in nodes:
            full = full_routes(lab, node.name)
            assert sorted(node.lab_host.realiser.kernel_routes()) == full, node.name
            alias = f"vEthernet ({next(iter(node.simulated.machine.adapters))})"
            assert windows_route_list(node) == sorted((d, h, alias, s) for d, h in full for s in STORES)
