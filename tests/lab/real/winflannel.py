"""Windows flanneld on an emulated Windows node of the real-Kubernetes lab: the overlay as a kernel VXLAN.

Started when hybridctl starts the simulated machine's ``flanneld`` service (``SimulatedHostAgents``), with
the service's command line, environment and the files hybridctl wrote. Real: the API server and its RBAC
(every call uses the kube-flannel/flannel token from the kubeconfig hybridctl installed, from inside the
host's network namespace), the Linux nodes' flanneld (the DaemonSet) reading this node's annotations,
the kernel VXLAN data path. Emulated, from flannel's Windows code (flannel-io/flannel, read at 00014d09):

- the inputs and their checks (tests/support/winrm/windows_flanneld.py ``read_inputs``: flag set,
  ``NODE_NAME``, vxlan_windows.go's VNI/port/DirectRouting/GBP rules); the lease is the Node's
  ``spec.podCIDR`` as the real API server has it (pkg/subnet/kube ``AcquireLease``), published with a
  strategic-merge PATCH of ``nodes/<name>/status`` (the same annotations Linux flanneld writes:
  backend-data with the VNI and the VTEP MAC, backend-type, kube-subnet-manager, public-ip);
- the HNS Overlay network ``flannel.<VNI>`` (device_windows.go ``ensureNetwork``) in the machine model
  (what hybridctl's steps read) and in the kernel: a bridge of that name holding the gateway (lease + 1)
  that pods attach to, and a VXLAN device (VNI, UDP 4789, the node address as source, no learning) whose
  MAC is the network's distributed-router MAC published as ``VtepMAC``;
- vxlan_network_windows.go's RemoteSubnetRoute policy per remote lease (destination prefix, isolation ID =
  VNI, the remote's VTEP MAC as DR MAC, its public IP as provider address) as what Linux flannel programs
  for the same lease (pkg/backend/vxlan/vxlan_network.go): a route to the remote subnet via its first
  address on the VXLAN device (onlink), a permanent neighbour entry for that address with the remote VTEP
  MAC, and a forwarding entry sending that MAC to the remote public IP. Leases are re-read every second.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tests.lab.windows_sim.netns import in_namespace
from tests.support.winrm import windows_flanneld as flanneld
from tests.support.winrm.host import ScriptError
from tests.support.winrm.machine import WindowsMachine

VXLAN_PORT = 4789


def vxlan_device(vni: int) -> str:
    """The kernel VXLAN device of the overlay (the bridge carries the HNS network's name)."""
    return f"vxlan.{vni}"


class Api:
    """The API server as flanneld reaches it: the kubeconfig's server, CA and bearer token."""

    def __init__(self, kubeconfig: dict[str, Any], token: str, namespace: str) -> None:
        cluster = kubeconfig["clusters"][0]["cluster"]
        self.server = str(cluster["server"]).rstrip("/")
        self.token = token
        self.namespace = namespace
        with tempfile.NamedTemporaryFile("w", suffix=".crt") as ca:
            ca.write(base64.b64decode(cluster["certificate-authority-data"]).decode())
            ca.flush()
            self.context = ssl.create_default_context(cafile=ca.name)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request from inside the host's namespace; ScriptError with the API's answer on failure."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/strategic-merge-patch+json"
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data, headers, method=method)

        def send() -> dict[str, Any]:
            try:
                with urllib.request.urlopen(request, context=self.context, timeout=10) as answer:
                    loaded: dict[str, Any] = json.loads(answer.read())
                    return loaded
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300]
                raise ScriptError(f"flanneld: {method} {path}: {exc.code} {detail}") from None
            except OSError as exc:
                raise ScriptError(f"flanneld: {method} {path}: {exc}") from None

        return in_namespace(self.namespace, send)


def _ip(namespace: str, *argv: str, check: bool = True) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise ScriptError(f"flanneld: {' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class OverlayAgent:
    """One run of Windows flanneld for a simulated host (a ``NodeAgent`` look-alike: start/running/stop)."""

    machine: WindowsMachine
    namespace: str
    argv: list[str]
    routes: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """Remote lease -> (gateway, VTEP MAC, public IP) as programmed."""
    error: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> OverlayAgent:
        """Take the lease, build the overlay, publish the lease, then follow the other leases."""
        service = self.machine.services["flanneld"]
        inputs = flanneld.read_inputs(self.machine, service.parameters, self.argv)
        api = Api(inputs.kubeconfig, inputs.token, self.namespace)
        lease = flanneld.check_lease(inputs, api.call("GET", f"/api/v1/nodes/{inputs.node}"))
        name, vni = str(inputs.settings["Name"]), int(inputs.settings["VNI"])
        network = flanneld.ensure_network(self.machine, name, lease, inputs.adapter)
        address = self.machine.adapters[inputs.adapter]
        self._kernel(name, vni, lease, address, network["drMac"].replace("-", ":"))
        annotations = flanneld.lease_annotations(inputs, address, network)
        api.call("PATCH", f"/api/v1/nodes/{inputs.node}/status", {"metadata": {"annotations": annotations}})
        flanneld.write_subnet_file(self.machine, inputs, lease)
        self._sync(api, inputs.node, vni)
        self._thread = threading.Thread(
            target=self._follow, args=(api, inputs.node, vni), name=f"flanneld-{inputs.node}", daemon=True
        )
        self._thread.start()
        return self

    def _kernel(self, name: str, vni: int, lease: ipaddress.IPv4Network, address: str, mac: str) -> None:
        """The bridge (the Overlay network pods attach to) and the VXLAN device, made once."""
        links = _ip(self.namespace, "ip", "-o", "link", "show")
        if f" {name}:" not in links:
            gateway = f"{lease.network_address + 1}/{lease.prefixlen}"
            _ip(self.namespace, "ip", "link", "add", name, "type", "bridge")
            _ip(self.namespace, "ip", "addr", "add", gateway, "dev", name)
            _ip(self.namespace, "ip", "link", "set", name, "up")
        device = vxlan_device(vni)
        if f" {device}:" not in links:
            _ip(
                self.namespace,
                *("ip", "link", "add", device, "address", mac, "type", "vxlan", "id", str(vni)),
                *("dstport", str(VXLAN_PORT), "local", address, "dev", "eth0", "nolearning"),
            )
            _ip(self.namespace, "ip", "link", "set", device, "up")

    def _follow(self, api: Api, node: str, vni: int) -> None:
        while not self._stop.wait(1.0):
            try:
                self._sync(api, node, vni)
            except ScriptError as exc:
                self.error = exc.message

    def _sync(self, api: Api, node: str, vni: int) -> None:
        """One RemoteSubnetRoute per other node's vxlan lease; stale ones removed."""
        wanted = {}
        for item in api.call("GET", "/api/v1/nodes")["items"]:
            remote = _remote(item, vni)
            if remote is not None and item["metadata"]["name"] != node:
                wanted[remote[0]] = remote[1:]
        device = vxlan_device(vni)
        for cidr in [c for c in self.routes if c not in wanted]:
            gateway, mac, public = self.routes.pop(cidr)
            _ip(self.namespace, "ip", "route", "del", cidr, "dev", device, check=False)
            _ip(self.namespace, "ip", "neigh", "del", gateway, "dev", device, check=False)
            _ip(self.namespace, "bridge", "fdb", "del", mac, "dev", device, "dst", public, check=False)
        for cidr, (gateway, mac, public) in wanted.items():
            if self.routes.get(cidr) == (gateway, mac, public):
                continue
            _ip(
                self.namespace,
                "bridge",
                "fdb",
                "replace",
                mac,
                "dev",
                device,
                "dst",
                public,
                "self",
                "permanent",
            )
            _ip(
                self.namespace,
                "ip",
                "neigh",
                "replace",
                gateway,
                "lladdr",
                mac,
                "dev",
                device,
                "nud",
                "permanent",
            )
            _ip(self.namespace, "ip", "route", "replace", cidr, "via", gateway, "dev", device, "onlink")
            self.routes[cidr] = (gateway, mac, public)

    def running(self) -> bool:
        """Following the leases."""
        return self._thread is not None and self._thread.is_alive()

    def log(self) -> str:
        """The last error of the lease loop."""
        return self.error

    def stop(self) -> None:
        """Stop following (the network and the kernel devices stay, as on Windows until a reboot)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _remote(node: dict[str, Any], vni: int) -> tuple[str, str, str, str] | None:
    """(lease, its first address, VTEP MAC, public IP) of a node with a vxlan lease of this VNI."""
    annotations = node["metadata"].get("annotations") or {}
    cidr = (node.get("spec") or {}).get("podCIDR")
    if annotations.get(flanneld.ANNOTATION + "backend-type") != "vxlan" or not cidr:
        return None
    data = json.loads(annotations.get(flanneld.ANNOTATION + "backend-data") or "{}")
    public = annotations.get(flanneld.ANNOTATION + "public-ip")
    if data.get("VNI") != vni or not data.get("VtepMAC") or not public:
        return None
    network = ipaddress.ip_network(cidr)
    return str(network), str(network.network_address), str(data["VtepMAC"]), str(public)
