"""windows-flannel (vxlan mode): flanneld as an nssm service, which builds the node's overlay network.

Reference section 6.3: Windows flanneld (``--kube-subnet-mgr``) takes the node's lease (its
``node.spec.podCIDR``), creates the HNS network ``flannel.4096`` (type Overlay, the lease as its subnet,
non-persistent: a restart removes it and flanneld creates it again when it starts) and keeps one
RemoteSubnetRoute policy per other node (flannel-io/flannel pkg/backend/vxlan/device_windows.go,
vxlan_network_windows.go). hybridctl installs what flanneld reads (``net-conf.json`` with the values of the
``kube-flannel-cfg`` ConfigMap, a kubeconfig with the kube-flannel/flannel ServiceAccount token), the CNI
config that delegates to ``sdnoverlay``, the service definition and the boot script; runs the service;
and waits until the overlay network carries the node's pod CIDR.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from hybridctl.inventory.models import Cluster, Host
from hybridctl.platforms.windows import strings
from hybridctl.render import RenderedFile
from hybridctl.render.context import FLANNEL_NETWORK
from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.files import file_changes, install
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import runtime_values
from hybridctl.steps.windows import services
from hybridctl.steps.windows.common import PLATFORM, KnownHashes, WindowsStep, host_files, one_file, targets
from hybridctl.steps.windows.windows_pod_network import reconnect
from hybridctl.transport.base import UnreachableError

FILES = ("cni-config", "flannel-net-conf", "flanneld-kubeconfig", "flanneld-service", "boot-task")
SERVICE = "flanneld"
LOG = "C:\\var\\log\\flanneld\\flanneld.err.log"
NETWORK_WAIT = 120.0


def overlay_problem(hns: dict[str, Any], cidr: str) -> str | None:
    """Why flanneld's network is not there as it should be: missing, not an overlay, or another subnet.

    HNS reports the type in lower case (flannel-io/flannel#833); flanneld itself compares the network it
    finds by type and address prefix before it reuses it (device_windows.go ``checkNetworkIsCompatible``).
    """
    network = (hns.get("networks") or {}).get(FLANNEL_NETWORK)
    if network is None:
        return f"flanneld creates HNS network {FLANNEL_NETWORK} (Overlay {cidr})"
    found = (str(network.get("type", "")).casefold(), network.get("addressPrefix"))
    if found != ("overlay", cidr):
        return f"HNS network {FLANNEL_NETWORK} is {found}, wanted ('overlay', {cidr!r}): restart flanneld"
    return None


class WindowsFlannel(WindowsStep):
    """Install flanneld's files and service; the overlay network must then carry the node's pod CIDR."""

    name: ClassVar[str] = "windows-flannel"
    title: ClassVar[str] = "flanneld and the overlay network (Windows, vxlan)"
    requires: ClassVar[tuple[str, ...]] = ("pod-cidrs", "flannel")

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Windows hosts of a vxlan-mode cluster."""
        return host.is_windows and cluster.spec.network.mode == "vxlan"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Files, the service and the overlay network. A host this run does not make a node is left alone."""
        if not ctx.is_member(host.host.name):
            return []
        if not kube.initialised(kube.control_plane_view(ctx)):
            return [Change("install flanneld once the control plane runs")]
        try:
            kube.flannel_token(ctx)
        except StepError:
            return [Change("create flanneld's token (ServiceAccount kube-flannel/flannel), then install it")]
        files = host_files(ctx, host.host, FILES)
        state = _state(host, files)
        changes = file_changes(KnownHashes(state["files"]), host, files) + _service_changes(files, state)
        changes = services.restart_marked(changes, state["services"].get(SERVICE))
        cidr = runtime_values(ctx).pod_cidrs.get(host.name)
        if cidr is None:  # planning before the node registered (add-node): flanneld takes it as its lease
            return [*changes, Change("flanneld creates the overlay network once the node has a pod CIDR")]
        problem = overlay_problem(state.get("hns") or {}, cidr)
        return changes + ([Change(problem)] if problem and not changes else [])

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the files, (re)start flanneld when anything it reads changed or its network is wrong, wait
        for the network (creating the first external network may drop the connection for a moment)."""
        kube.flannel_token(ctx)
        files = host_files(ctx, host.host, FILES)
        written = install(PLATFORM, host, files)
        service = services.definition(one_file(files, "flanneld-service"))
        state = _state(host, files)
        cidr = _cidr(ctx, host)
        live = state["services"].get(SERVICE)
        if written or services.differences(service, live) or overlay_problem(state.get("hns") or {}, cidr):
            try:
                services.install_service(host, service, start=True)
            except UnreachableError:
                reconnect(host)
        _wait_for_network(host, files, cidr)


def _cidr(ctx: StepContext, host: HostView) -> str:
    cidr = runtime_values(ctx).pod_cidrs.get(host.name)
    if cidr is None:
        raise StepError(f"{host.name}: the node has no pod CIDR yet")
    return cidr


def _state(host: HostView, files: list[RenderedFile]) -> dict[str, Any]:
    state = PLATFORM.state(
        host, Paths=strings(targets(files)), Services=[SERVICE], Networks=[FLANNEL_NETWORK]
    )
    state.setdefault("services", {})
    state.setdefault("files", {})
    return state


def _service_changes(files: list[RenderedFile], state: dict[str, Any]) -> list[Change]:
    service = services.definition(one_file(files, "flanneld-service"))
    return [Change(text) for text in services.differences(service, state["services"].get(SERVICE))]


def _wait_for_network(host: HostHandle, files: list[RenderedFile], cidr: str) -> None:
    deadline = time.monotonic() + NETWORK_WAIT
    problem: str | None = "not read yet"
    while problem is not None:
        if time.monotonic() > deadline:
            raise StepError(
                f"{host.name}: the overlay network is not ready after {NETWORK_WAIT:g}s ({problem}); "
                f"see {LOG}"
            )
        try:
            problem = overlay_problem(_state(host, files).get("hns") or {}, cidr)
        except UnreachableError:
            reconnect(host)
            continue
        if problem is not None:
            time.sleep(2.0)
