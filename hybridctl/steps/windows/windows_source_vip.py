"""windows-source-vip (vxlan mode): kube-proxy's source VIP, reserved in the node's pod CIDR.

On an Overlay network kube-proxy (winkernel) needs ``sourceVip``, an address of the node's pod subnet it
uses as the source of load-balanced traffic ("source-vip flag not set", kubernetes/kubernetes#78338). It
must be reserved in the host-local store the CNI plugin allocates pod addresses from, or a pod may get it
later (reference section 5.2). The check reads that store (``C:\\var\\lib\\cni\\networks\\flannel.4096``:
one file per address holding the container ID) and records the address hybridctl reserved, so the
kube-proxy config renders with it; the apply runs host-local once when there is none.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, ClassVar

from hybridctl.inventory.models import Cluster, Host
from hybridctl.platforms.windows import apply_json
from hybridctl.render.context import FLANNEL_NETWORK
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import SOURCE_VIPS, runtime_values
from hybridctl.steps.windows.common import CNI_BIN, PLATFORM, WindowsStep

CONTAINER_ID = "hybridctl-source-vip"
"""The reservation's owner in the store (host-local's CNI_CONTAINERID); RKE2 uses its own the same way."""
IFNAME = "source-vip"
DATA_DIR = "/var/lib/cni/networks"
"""host-local's default, which the flannel CNI plugin's delegate uses too (on Windows: C:\\var\\lib\\...)."""
STORE = "C:\\var\\lib\\cni\\networks\\" + FLANNEL_NETWORK
HOST_LOCAL = CNI_BIN + "\\host-local.exe"


def reservation(state: dict[str, Any], cidr: str) -> str | None:
    """The address hybridctl holds in ``cidr`` (None when there is none)."""
    store = (state.get("ipamStores") or {}).get(STORE) or {}
    network = ipaddress.ip_network(cidr)
    held = sorted(
        (address for address, owner in store.items() if owner.strip() == CONTAINER_ID),
        key=ipaddress.ip_address,
    )
    inside = [address for address in held if ipaddress.ip_address(address) in network]
    return inside[0] if inside else None


def request(cidr: str) -> str:
    """host-local's network configuration: the CNI network's name, the node's pod CIDR, the store."""
    ipam = {"type": "host-local", "ranges": [[{"subnet": cidr}]], "dataDir": DATA_DIR}
    return json.dumps({"cniVersion": "0.3.0", "name": FLANNEL_NETWORK, "ipam": ipam})


class WindowsSourceVip(WindowsStep):
    """Find (or make) the node's source VIP reservation and record it for the kube-proxy config."""

    name: ClassVar[str] = "windows-source-vip"
    title: ClassVar[str] = "reserve kube-proxy's source VIP (Windows, vxlan)"
    requires: ClassVar[tuple[str, ...]] = ("pod-cidrs",)

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Windows hosts of a vxlan-mode cluster."""
        return host.is_windows and cluster.spec.network.mode == "vxlan"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The store's reservation for this node's pod CIDR; recorded when found."""
        if not ctx.is_member(host.host.name):
            return []
        cidr = runtime_values(ctx).pod_cidrs.get(host.name)
        if cidr is None:
            return [Change("reserve kube-proxy's source VIP once the node has a pod CIDR")]
        found = reservation(PLATFORM.state(host, IpamStores=[STORE]), cidr)
        if found is None:
            return [Change(f"reserve kube-proxy's source VIP in {cidr} (host-local store {STORE})")]
        _record(ctx, host.name, found)
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """host-local ADD, unless a reservation appeared meanwhile; the store is then read back."""
        cidr = runtime_values(ctx).pod_cidrs.get(host.name)
        if cidr is None:
            raise StepError(f"{host.name}: the node has no pod CIDR yet")
        if reservation(PLATFORM.state(host, IpamStores=[STORE]), cidr) is None:
            params = {
                "HostLocal": HOST_LOCAL,
                "Request": request(cidr),
                "ContainerId": CONTAINER_ID,
                "IfName": IFNAME,
                "CniPath": CNI_BIN,
            }
            apply_json(host, "source-vip", dict(params))
        found = reservation(PLATFORM.state(host, IpamStores=[STORE]), cidr)
        if found is None:
            raise StepError(f"{host.name}: host-local reported an address but {STORE} holds no reservation")
        _record(ctx, host.name, found)


def _record(ctx: StepContext, name: str, address: str) -> None:
    ctx.state.setdefault(SOURCE_VIPS, dict)[name] = address
