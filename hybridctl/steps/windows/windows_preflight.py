"""windows-preflight: read-only checks of reference W1 and W2; refuses with every problem at once."""

from __future__ import annotations

import ipaddress
import re
import time
from datetime import datetime
from typing import Any, ClassVar, cast

from hybridctl.commands import PsValue
from hybridctl.inventory.models import Cluster, Host
from hybridctl.platforms.windows import (
    ReconnectableTransport,
    probe_json,
    strings,
    wait_for_scheduled_restart,
)
from hybridctl.steps.base import Change, StepError, mode_switch_problems, other_mode
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.kube import api_endpoint, control_plane_view, initialised
from hybridctl.steps.values import WINDOWS_BUILDS, facts_key
from hybridctl.steps.windows.common import WindowsStep
from hybridctl.versions import WINDOWS_BUILDS as BUILD_OF_VERSION

SKEW_LIMIT = 5.0
OVERLAY_HOTFIX = "KB4489899"
MODE_MARKERS = {
    "routes": ("C:\\etc\\cni\\net.d\\10-cbr0.conf",),
    "vxlan": ("C:\\etc\\cni\\net.d\\10-flannel.conf", "C:\\run\\flannel\\subnet.env"),
}
"""Files that show which pod network a node runs: routes mode's CNI config for the L2Bridge network, vxlan
mode's flannel CNI config and flanneld's subnet lease."""
_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class WindowsPreflight(WindowsStep):
    """Probe the host once and refuse it, listing every problem, before anything changes."""

    name: ClassVar[str] = "windows-preflight"
    title: ClassVar[str] = "Windows preflight"
    windows_timeout: ClassVar[float] = 120.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Record the build and facts in the run state; StepError listing every problem."""
        facts = _probe(host, ctx)
        if facts.get("restartScheduledSecondsAgo") is not None:
            facts = _after_scheduled_restart(host, ctx, float(facts["restartScheduledSecondsAgo"])) or facts
        build = ".".join(str(facts.get("build", "")).split(".")[:3])
        ctx.state.set(facts_key(host.name), facts)
        ctx.state.setdefault(WINDOWS_BUILDS, dict)[host.name] = build
        found = problems(host.host, ctx.cluster, facts, api_up=_api_expected(ctx))
        if found:
            raise StepError(f"{host.name}: preflight refused the host:\n  - " + "\n  - ".join(found))
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing to apply: preflight only reads."""


def _probe(host: HostView, ctx: StepContext) -> dict[str, Any]:
    """The preflight facts, with the clock skew against this machine."""
    before = time.time()
    facts = probe_json(host, "preflight", _params(host.host, ctx.cluster))
    facts["skew"] = round(_epoch(str(facts.get("utcNow", ""))) - (before + time.time()) / 2, 3)
    return facts


def _after_scheduled_restart(host: HostView, ctx: StepContext, ago: float) -> dict[str, Any] | None:
    """Wait for the restart an earlier run scheduled and did not see through (it was stopped while waiting):
    fresh facts once the host is back, None when the restart did not come (cancelled) - nothing restarts."""
    reason = f"the restart an earlier run scheduled {ago:.0f}s ago"
    ctx.emit("reboot", host=host.name, phase="scheduled", reason=reason)
    booted = host.waiting(
        lambda transport: wait_for_scheduled_restart(
            cast(ReconnectableTransport, transport),
            ago,
            poll_interval=float(ctx.options.get("reboot_poll_interval", 5.0)),
            on_phase=lambda phase: ctx.emit("reboot", host=host.name, phase=phase, reason=reason),
        )
    )
    if booted is None:
        message = f"{reason} did not happen (cancelled?); carrying on without it"
        ctx.emit("warning", host=host.name, step=WindowsPreflight.name, message=message)
        return None
    return _probe(host, ctx)


def _params(host: Host, cluster: Cluster) -> dict[str, PsValue]:
    address, _, port = api_endpoint(cluster).rpartition(":")
    params: dict[str, PsValue] = {
        "ApiHost": address,
        "ApiPort": int(port),
        "HotFix": "",
        "NodeAddress": _ip_or_empty(host.address),
        "ModePaths": strings(MODE_MARKERS[other_mode(cluster.spec.network.mode)]),
    }
    if cluster.spec.network.mode == "vxlan" and host.windows_version == 2019:
        params["HotFix"] = OVERLAY_HOTFIX
    return params


def _ip_or_empty(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return ""  # a DNS name: the host cannot be asked which adapter owns it


def _api_expected(ctx: StepContext) -> bool:
    """The API must answer only once kubeadm init ran; before that a refused port is normal."""
    return initialised(control_plane_view(ctx))


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else 0.0


def problems(host: Host, cluster: Cluster, facts: dict[str, Any], *, api_up: bool) -> list[str]:
    """Every reason to refuse ``host``, in words."""
    return [
        *_build_problems(host, str(facts.get("build", ""))),
        *_name_problems(host, str(facts.get("hostname", ""))),
        *_host_problems(facts),
        *_api_problems(cluster, str(facts.get("api", "")), api_up),
        *_feature_problems(host, cluster, facts),
        *adapter_problems(host, facts),
        *mode_switch_problems([str(p) for p in facts.get("modePaths") or []], cluster.spec.network.mode),
    ]


def adapter_problems(host: Host, facts: dict[str, Any]) -> list[str]:
    """The adapter owning the node's address must be the inventory's (or its vSwitch ``vEthernet (..)``).

    HNS fails with "An adapter was not found" only when the network is created (microsoft/SDN#300), long
    after a preflight that did not look; flannel finds the interface by the node's IP (``--iface``).
    """
    if not _ip_or_empty(host.address):
        return []
    found = facts.get("nodeAdapter")
    if not found:
        return [f"no network adapter on the host holds the node address {host.address} (behind NAT?)"]
    if found in (host.adapter, f"vEthernet ({host.adapter})"):
        return []
    adapter = str(found)
    if adapter.startswith("vEthernet (") and adapter.endswith(")"):
        adapter = adapter[len("vEthernet (") : -1]
    return [
        f"the node address {host.address} is on adapter {found!r}, the inventory names {host.adapter!r}: "
        f"set interface: {adapter!r} for this host"
    ]


def _build_problems(host: Host, version: str) -> list[str]:
    build = ".".join(version.split(".")[:3])
    known = {value: key for key, value in BUILD_OF_VERSION.items()}
    if build not in known:
        return [
            f"Windows build {version or 'unknown'} is not Server 2019, 2022 or 2025 (17763, 20348, 26100)"
        ]
    if host.windows_version is not None and known[build] != host.windows_version:
        return [
            f"the host runs Windows Server {known[build]} ({build}), "
            f"the inventory says {host.windows_version}"
        ]
    return []


def _name_problems(host: Host, hostname: str) -> list[str]:
    found = []
    if not (_NODE_NAME.fullmatch(host.name) and len(host.name) <= 15):
        found.append(f"node name {host.name!r} is not a lowercase RFC 1123 name of at most 15 characters")
    if hostname != host.name:
        found.append(
            f"computer name {hostname!r} is not the node name {host.name!r}; rename the computer "
            "(Rename-Computer, then restart) - hybridctl does not rename hosts"
        )
    return found


def _host_problems(facts: dict[str, Any]) -> list[str]:
    found = []
    if not facts.get("isAdmin"):
        found.append("the WinRM session is not elevated (no administrator rights)")
    if facts.get("w32time") != "Running":
        found.append(
            f"the W32Time service is {facts.get('w32time')}, not Running (x509 and tokens need synced time)"
        )
    if abs(float(facts.get("skew", 0.0))) > SKEW_LIMIT:
        found.append(
            f"clock differs from this machine by {float(facts['skew']):+.1f}s (limit {SKEW_LIMIT:g}s)"
        )
    return found


def _api_problems(cluster: Cluster, result: str, api_up: bool) -> list[str]:
    if result == "connected" or (result == "refused" and not api_up):
        return []
    return [f"cannot reach the API endpoint {api_endpoint(cluster)} over TCP from the host ({result})"]


def _feature_problems(host: Host, cluster: Cluster, facts: dict[str, Any]) -> list[str]:
    found = []
    if "hyperv" in cluster.spec.windows.isolation and not facts.get("hypervCapable"):
        found.append("Hyper-V isolation is enabled but the processor lacks virtualisation or SLAT")
    if facts.get("hotFixPresent") is False:
        found.append(f"VXLAN on Windows Server 2019 needs {OVERLAY_HOTFIX}, which is not installed")
    return found
