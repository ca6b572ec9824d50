"""windows-reset (``down``): remove what hybridctl set up on a Windows node (reference section 8.1).

Safe to run again after a partial failure: the check lists what is still there, the apply script skips
what is gone. Windows features stay unless ``purge`` is set (then they go too, with a restart).
"""

from __future__ import annotations

from typing import Any, ClassVar

from hybridctl.commands import PsValue
from hybridctl.platforms.windows import apply_json, strings
from hybridctl.render.context import FLANNEL_NETWORK
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.smoke_image import PULL_NAME
from hybridctl.steps.windows.common import (
    BOOT_TASK,
    CONTAINERD_DIR,
    CONTAINERD_EXE,
    CRI_ENDPOINT,
    CRICTL_EXE,
    FIREWALL_PREFIX,
    HOST_ENDPOINT,
    NETWORK_NAME,
    NSSM_EXE,
    OWNED_DIRECTORIES,
    PLATFORM,
    WindowsStep,
    in_pod_subnet,
    route_interface,
)
from hybridctl.steps.windows.windows_features import HYPERV_FEATURES, restart_host

NSSM_SERVICES = ("kube-proxy", "flanneld", "kubelet")  # reverse dependency order; flanneld: vxlan mode
NETWORKS = (NETWORK_NAME, FLANNEL_NETWORK)
"""Both modes' networks: routes mode's L2Bridge, vxlan mode's overlay (flanneld's, with kube-proxy's
source VIP endpoint and the pods' endpoints on it)."""
ROUTE_METRIC = 300
TASKS = (BOOT_TASK, "hybridctl-reboot", PULL_NAME)  # node/reboot, windows-smoke-image register the others


class WindowsReset(WindowsStep):
    """Stop and remove services, network, routes, rules, task, directories and PATH entries."""

    name: ClassVar[str] = "windows-reset"
    title: ClassVar[str] = "reset the Windows node"
    retry_safe: ClassVar[bool] = True

    def __init__(self, *, purge: bool = False) -> None:
        self.purge = purge

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Everything of hybridctl's that is still on the node."""
        return [
            Change(f"remove {item}", impact="delete")
            for item in _leftovers(ctx, host, _state(host, self.purge))
        ]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """One script removes everything in order; purge then uninstalls the features and restarts."""
        state = _state(host, self.purge)
        prefixes = sorted({r["destinationPrefix"] for r in _routes(ctx, state)})
        params: dict[str, PsValue] = {
            "Nssm": NSSM_EXE,
            "NssmServices": strings(NSSM_SERVICES),
            "ContainerdExe": CONTAINERD_EXE,
            "Crictl": CRICTL_EXE,
            "RuntimeEndpoint": CRI_ENDPOINT,
            "Endpoints": [HOST_ENDPOINT],
            "Networks": strings(NETWORKS),
            "RouteInterface": route_interface(host.host),
            "RoutePrefixes": strings(prefixes),
            "FirewallPrefix": FIREWALL_PREFIX,
            "TaskNames": strings(TASKS),
            "Directories": strings(OWNED_DIRECTORIES),
            "PathEntries": [CONTAINERD_DIR],
        }
        apply_json(host, "reset", params)
        if self.purge and _installed_features(state):
            result = apply_json(host, "remove-features", {"Names": strings(_installed_features(state))})
            if result.get("restartNeeded"):
                restart_host(host, ctx, "removing Windows features")


def _state(host: HostView, purge: bool) -> dict[str, Any]:
    query: dict[str, PsValue] = {
        "Services": strings((*NSSM_SERVICES, "containerd")),
        "Directories": strings(OWNED_DIRECTORIES),
        "FirewallPrefix": FIREWALL_PREFIX,
        "Tasks": strings(TASKS),
        "Networks": strings(NETWORKS),
        "RouteInterface": route_interface(host.host),
    }
    if purge:
        query["Features"] = strings(("Containers", *HYPERV_FEATURES))
    return PLATFORM.state(host, **query)


def _routes(ctx: StepContext, state: dict[str, Any]) -> list[dict[str, Any]]:
    """hybridctl's routes: its metric, into the cluster pod network."""
    return [
        r
        for r in state.get("routes") or []
        if int(r.get("routeMetric", 0)) == ROUTE_METRIC
        and in_pod_subnet(ctx.cluster, str(r["destinationPrefix"]))
    ]


def _installed_features(state: dict[str, Any]) -> list[str]:
    features = state.get("features") or {}
    return [name for name, info in features.items() if info.get("installed")]


def _leftovers(ctx: StepContext, host: HostView, state: dict[str, Any]) -> list[str]:
    found = [f"service {n}" for n, s in (state.get("services") or {}).items() if s.get("exists")]
    hns = state.get("hns") or {}
    found += [f"HNS network {n}" for n in hns.get("networks") or {} if n in NETWORKS]
    found += [
        f"HNS endpoint {n}"
        for n, e in (hns.get("endpoints") or {}).items()
        if n == HOST_ENDPOINT or e.get("network") in NETWORKS
    ]
    found += sorted({f"route {r['destinationPrefix']} via {r['nextHop']}" for r in _routes(ctx, state)})
    found += [f"firewall rule {r['name']}" for r in state.get("firewallRules") or []]
    found += [f"scheduled task {n}" for n, t in (state.get("tasks") or {}).items() if t.get("exists")]
    found += [f"directory {p}" for p, present in (state.get("directories") or {}).items() if present]
    if CONTAINERD_DIR in str(state.get("machinePath") or "").split(";"):
        found.append(f"machine PATH entry {CONTAINERD_DIR}")
    return found + [f"Windows feature {n}" for n in _installed_features(state)]
