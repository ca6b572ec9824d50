"""``linux-pod-network``: routes mode on a Linux node: bridge CNI config, pod routes and pod masquerade.

The check compares the files and the live kernel state with what is wanted: the routes carrying
hybridctl's protocol marker (a route someone deleted, changed or added by hand is a change) and the
masquerade chain with its jump from POSTROUTING. Only this step (and ``linux-reset``) touches them.
The rules expected here mirror ``templates/linux/hybridctl/pod-masquerade.sh.j2``.
"""

from __future__ import annotations

import json
from typing import ClassVar

from hybridctl.commands import posix
from hybridctl.inventory.models import Cluster, Host
from hybridctl.render.network import LINUX_ROUTE_PROTO, routes_for
from hybridctl.render.placeholders import is_placeholder
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import (
    LinuxStep,
    files_check,
    files_install,
    host_files,
    platform,
    unit_changes,
)
from hybridctl.steps.values import runtime_values

PURPOSES = ("cni-config", "routes", "masquerade")
UNITS = ("hybridctl-pod-routes.service", "hybridctl-pod-masquerade.service")
ROUTES_SCRIPT = "/etc/hybridctl/pod-routes.sh"
MASQUERADE_SCRIPT = "/etc/hybridctl/pod-masquerade.sh"
CHAIN = "HYBRIDCTL-POD-MASQ"
FORWARD_CHAIN = "HYBRIDCTL-POD-FWD"


class LinuxPodNetwork(LinuxStep):
    """Install the pod network files and units, and bring the kernel's routes and NAT rules in line."""

    name: ClassVar[str] = "linux-pod-network"
    title: ClassVar[str] = "configure the pod network (routes mode)"
    requires: ClassVar[tuple[str, ...]] = ("pod-cidrs",)

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Linux hosts of a routes-mode cluster."""
        return not host.is_windows and cluster.spec.network.mode == "routes"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Files, units, routes and the masquerade rules that differ. A host that is not a node and that
        this run does not join (``add-node`` of another host) is left alone."""
        if not ctx.is_member(host.host.name):
            return []
        changes = files_check(ctx, host, host_files(ctx, host, PURPOSES))
        changes += unit_changes(ctx, host, UNITS, start=False)
        return changes + route_changes(host, ctx) + masquerade_changes(host, ctx)

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write what differs, enable the units, rerun the scripts whose kernel state differs."""
        linux = platform(ctx, host)
        written = files_install(ctx, host, host_files(ctx, host, PURPOSES))
        if any(path.startswith("/etc/systemd/") for path in written):
            linux.systemctl(host, "daemon-reload")
        if unit_changes(ctx, host, UNITS, start=False):
            linux.systemctl(host, "enable", *UNITS)
        if ROUTES_SCRIPT in written or route_changes(host, ctx):
            host.run(posix("/bin/sh", ROUTES_SCRIPT))
        if MASQUERADE_SCRIPT in written or masquerade_changes(host, ctx):
            host.run(posix("/bin/sh", MASQUERADE_SCRIPT))


def wanted_routes(host: HostView, ctx: StepContext) -> dict[str, str]:
    """Destination -> next hop of every route this host should have (known pod CIDRs only)."""
    routes = routes_for(ctx.cluster, runtime_values(ctx), host.host)
    return {r.destination: r.via for r in routes if not is_placeholder(r.destination)}


def live_routes(host: HostView) -> dict[str, str]:
    """Destination -> next hop of the routes carrying hybridctl's protocol marker."""
    out = host.run(
        posix("ip", "-4", "-j", "route", "show", "proto", str(LINUX_ROUTE_PROTO), probe=True)
    ).stdout
    return {r["dst"]: r.get("gateway", "") for r in json.loads(out or "[]")}


def route_changes(host: HostView, ctx: StepContext) -> list[Change]:
    """Routes to add, correct or remove."""
    wanted, live = wanted_routes(host, ctx), live_routes(host)
    changes = []
    for destination, via in sorted(wanted.items()):
        if live.get(destination) != via:
            now = f" (now via {live[destination]})" if destination in live else ""
            changes.append(Change(f"route {destination} via {via}{now}"))
    stale = [(d, v) for d, v in sorted(live.items()) if d not in wanted]
    changes += [Change(f"remove stale route {d} via {v}", impact="delete") for d, v in stale]
    return changes


def wanted_rules(host: Host, ctx: StepContext) -> list[str]:
    """``iptables -t nat -S`` lines of hybridctl's masquerade chain and its jump, in order."""
    node_pods = runtime_values(ctx).pod_cidrs.get(host.name, "<unknown pod CIDR>")
    return [
        f"-N {CHAIN}",
        f"-A POSTROUTING -j {CHAIN}",
        f"-A {CHAIN} ! -s {node_pods} -j RETURN",
        f"-A {CHAIN} -d {ctx.cluster.spec.kubernetes.pod_subnet} -j RETURN",
        f"-A {CHAIN} -j MASQUERADE",
    ]


def wanted_forward_rules(ctx: StepContext) -> list[str]:
    """``iptables -t filter -S`` lines of hybridctl's FORWARD accept chain and its jump.

    flannel adds ``-A FORWARD -s/-d <network> -j ACCEPT`` by default (``--iptables-forward-rules``)
    because kube-proxy accepts only marked or established flows (flannel-io/flannel#1450).
    """
    pods = ctx.cluster.spec.kubernetes.pod_subnet
    return [
        f"-N {FORWARD_CHAIN}",
        f"-A FORWARD -j {FORWARD_CHAIN}",
        f"-A {FORWARD_CHAIN} -s {pods} -j ACCEPT",
        f"-A {FORWARD_CHAIN} -d {pods} -j ACCEPT",
    ]


def live_rules(host: HostView, table: str = "nat", chain: str = CHAIN) -> list[str]:
    """The table's lines that mention ``chain``."""
    out = host.run(posix("iptables", "-w", "-t", table, "-S", probe=True)).stdout
    return [line.strip() for line in out.splitlines() if chain in line]


def masquerade_changes(host: HostView, ctx: StepContext) -> list[Change]:
    """A change per chain (masquerade, forward accept) whose rules are not exactly hybridctl's."""
    changes = []
    for chain, table, wanted, what in (
        (CHAIN, "nat", wanted_rules(host.host, ctx), "masquerade"),
        (FORWARD_CHAIN, "filter", wanted_forward_rules(ctx), "FORWARD accept"),
    ):
        live = live_rules(host, table, chain)
        if live != wanted:
            diff = "\n".join(["live:", *live, "wanted:", *wanted]) + "\n"
            changes.append(Change(f"set the {chain} {what} rules", diff))
    return changes
