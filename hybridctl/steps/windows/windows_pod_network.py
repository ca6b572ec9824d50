"""windows-pod-network: the L2Bridge HNS network for the node's pod CIDR and routes to every other node.

Routes mode (reference section 6.2 "Manual static routes"): the node's pods sit behind the ``cbr0``
L2Bridge network's host endpoint ``cbr0_ep``; ``routes.ps1`` keeps exactly one route per other node's
pod CIDR via that node. The check reads files, the HNS network and the routes in one round trip, so a
route deleted by hand, a stale route or a network with the wrong prefix is a change.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any, ClassVar

from hybridctl.inventory.models import Cluster, Host
from hybridctl.platforms.windows import ReconnectableTransport, apply_json, strings
from hybridctl.render import RenderedFile
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.files import file_changes, install
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import (
    HOST_ENDPOINT,
    NETWORK_NAME,
    PLATFORM,
    KnownHashes,
    WindowsStep,
    host_files,
    one_file,
    route_interface,
    targets,
)
from hybridctl.transport.base import UnreachableError

FILES = ("cni-config", "hns-network", "routes", "boot-task")
STORES = ("ActiveStore", "PersistentStore")
_WANTED = re.compile(r"^\s*'([0-9./]+)\|([0-9.]+)'\s*$", re.MULTILINE)
_METRIC = re.compile(r"^\$Metric = (\d+)\s*$", re.MULTILINE)
RECONNECT_WAIT = 120.0
NETWORK_WAIT = 60.0


def wanted_routes(routes: RenderedFile) -> set[tuple[str, str]]:
    """(destination, next hop) pairs the rendered routes.ps1 keeps."""
    return set(_WANTED.findall(routes.content.decode("utf-8")))


def route_metric(routes: RenderedFile) -> int:
    """The metric that marks hybridctl's routes."""
    match = _METRIC.search(routes.content.decode("utf-8"))
    return int(match.group(1)) if match else 300


def route_changes(wanted: set[tuple[str, str]], metric: int, live: list[dict[str, Any]]) -> list[Change]:
    """Each wanted route once in each store; no other route with hybridctl's metric."""
    changes = []
    for store in STORES:
        routes = [r for r in live if r.get("store") == store]
        counts = Counter((str(r["destinationPrefix"]), str(r["nextHop"])) for r in routes)
        for destination, hop in sorted(wanted):
            if counts[(destination, hop)] != 1:
                changes.append(
                    Change(f"route {destination} via {hop} ({store}: {counts[(destination, hop)]} present)")
                )
        stale = {
            key
            for r in routes
            if int(r.get("routeMetric", 0)) == metric
            and (key := (str(r["destinationPrefix"]), str(r["nextHop"]))) not in wanted
        }
        changes += [
            Change(f"remove stale route {d} via {h} ({store})", impact="delete") for d, h in sorted(stale)
        ]
    return changes


def network_problem(
    definition: dict[str, Any], hns: dict[str, Any], interfaces: dict[str, bool] | None = None
) -> str | None:
    """Why the HNS network or its host endpoint is not what hns-network.json describes.

    Judged as flannel's host-gw backend judges it (flannel-io/flannel pkg/backend/hostgw/hostgw_windows.go):
    by address prefix and gateway. HNS reports a network created as ``L2Bridge`` as ``l2bridge`` with an
    empty ``NetworkAdapterName`` (flannel-io/flannel#833), so the adapter is not compared and the type only
    case-insensitively, as kube-proxy's winkernel proxier does (``strings.EqualFold``).
    """
    network = (hns.get("networks") or {}).get(definition["Name"])
    if network is None:
        return f"create HNS network {definition['Name']} ({definition['Type']} {definition['AddressPrefix']})"
    if not _network_matches(network, definition):
        found = (network.get("type"), network.get("addressPrefix"), network.get("gateway"))
        pods = pod_endpoints(definition, hns)
        busy = f"; {len(pods)} pod endpoints are attached: drain the node first" if pods else ""
        return f"recreate HNS network {definition['Name']}: it is {found}{busy}"
    wanted = definition["HostEndpoint"]
    endpoint = (hns.get("endpoints") or {}).get(wanted["Name"])
    if endpoint is None or endpoint.get("ipAddress") != wanted["IPAddress"]:
        return f"create host endpoint {wanted['Name']} ({wanted['IPAddress']})"
    alias = f"vEthernet ({wanted['Name']})"
    if interfaces is not None and not interfaces.get(alias, False):
        # After a reboot HNS keeps the endpoint but detaches it (flannel-io/flannel#1391, #1858).
        return f"attach host endpoint {wanted['Name']} ({alias} is missing)"
    return None


def _network_matches(network: dict[str, Any], definition: dict[str, Any]) -> bool:
    same_type = str(network.get("type", "")).casefold() == str(definition["Type"]).casefold()
    same_subnet = (network.get("addressPrefix"), network.get("gateway")) == (
        definition["AddressPrefix"],
        definition["Gateway"],
    )
    return same_type and same_subnet


def pod_endpoints(definition: dict[str, Any], hns: dict[str, Any]) -> list[str]:
    """Endpoints on the network other than the host endpoint: pods that deleting it would cut off."""
    host_endpoint = definition["HostEndpoint"]["Name"]
    return sorted(
        name
        for name, endpoint in (hns.get("endpoints") or {}).items()
        if endpoint.get("network") == definition["Name"] and name != host_endpoint
    )


class WindowsPodNetwork(WindowsStep):
    """Install the network files, create the L2Bridge network when missing, program the routes."""

    name: ClassVar[str] = "windows-pod-network"
    title: ClassVar[str] = "pod network (Windows, L2Bridge + routes)"
    requires: ClassVar[tuple[str, ...]] = ("pod-cidrs",)

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Windows hosts of a routes-mode cluster (in vxlan mode flanneld builds the network)."""
        return host.is_windows and cluster.spec.network.mode == "routes"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Files, the HNS network and endpoint, the routes. A host that is not a node and that
        this run does not join (``add-node`` of another host) is left alone."""
        if not ctx.is_member(host.host.name):
            return []
        files = host_files(ctx, host.host, FILES)
        state = _state(host, files)
        changes = file_changes(KnownHashes(state.get("files") or {}), host, files)
        if any(f.placeholders for f in files):
            return changes  # the pod CIDRs are not known yet (planning before the nodes registered)
        return changes + _live_changes(files, state)

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Files first, then the network (which may cut the connection), then routes.ps1."""
        files = host_files(ctx, host.host, FILES)
        install(PLATFORM, host, files)
        definition = json.loads(one_file(files, "hns-network").content)
        state = _state(host, files)
        problem = _problem(definition, state)
        if problem and problem.startswith("recreate") and pod_endpoints(definition, state.get("hns") or {}):
            raise StepError(f"{host.name}: {problem}")  # never cut running pods off their network
        if problem:
            _ensure_network(host, files, definition)
        routes = one_file(files, "routes")
        assert routes.target is not None
        apply_json(host, "run-file", {"Path": routes.target})
        left = _live_changes(files, _state(host, files))
        if left:
            raise StepError(f"{host.name}: pod network still differs: " + "; ".join(c.summary for c in left))


def _state(host: HostView, files: list[RenderedFile]) -> dict[str, Any]:
    return PLATFORM.state(
        host,
        Paths=strings(targets(files)),
        Networks=[NETWORK_NAME],
        RouteInterface=route_interface(host.host),
        Interfaces=[f"vEthernet ({HOST_ENDPOINT})"],
    )


def _problem(definition: dict[str, Any], state: dict[str, Any]) -> str | None:
    return network_problem(definition, state.get("hns") or {}, state.get("interfaces") or {})


def _live_changes(files: list[RenderedFile], state: dict[str, Any]) -> list[Change]:
    definition = json.loads(one_file(files, "hns-network").content)
    problem = _problem(definition, state)
    routes = one_file(files, "routes")
    changes = [Change(problem)] if problem else []
    return changes + route_changes(
        wanted_routes(routes), route_metric(routes), list(state.get("routes") or [])
    )


def _ensure_network(host: HostHandle, files: list[RenderedFile], definition: dict[str, Any]) -> None:
    """Create the network, then wait until HNS shows it; a script whose answer was lost may still run."""
    for _ in range(2):
        _create_network(host, definition)
        deadline = time.monotonic() + NETWORK_WAIT
        while time.monotonic() < deadline:
            if _problem(definition, _state(host, files)) is None:
                return
            time.sleep(2.0)
    raise StepError(f"{host.name}: HNS network {definition['Name']} did not appear")


def _create_network(host: HostHandle, definition: dict[str, Any]) -> None:
    """Run win/hns-network; the first external network rebinds the NIC, so a lost answer is expected."""
    params = {
        "DefinitionPath": "C:\\k\\hybridctl\\hns-network.json",
        "InterfaceAlias": route_interface(host.host),
    }
    try:
        apply_json(host, "hns-network", dict(params))
    except UnreachableError:
        reconnect(host)


def reconnect(host: HostHandle) -> None:
    """Open a new session to ``host`` once it answers again (the vSwitch took its address for a moment)."""
    transport = host.transport
    deadline = time.monotonic() + RECONNECT_WAIT
    while True:
        try:
            reconnectable: ReconnectableTransport = transport  # type: ignore[assignment]
            reconnectable.reconnect()
            return
        except UnreachableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2.0)
