"""What starting flanneld.exe (vxlan backend, ``--kube-subnet-mgr``) does on the simulated Windows host.

Emulated from flannel's own code (flannel-io/flannel, read at 00014d09):
- the command line is a Go ``flag`` set (main.go ``flannelFlags``): ``--name=value``, bare booleans, and
  "flag provided but not defined" for anything else;
- the kube subnet manager needs ``NODE_NAME`` (else ``POD_NAME``/``POD_NAMESPACE``, pkg/subnet/kube/kube.go),
  credentials the API accepts, and the Node's ``spec.podCIDR`` as its lease ("pod cidr not assigned");
  flannel's RBAC (Documentation/kube-flannel.yml) binds the ServiceAccount ``kube-flannel/flannel``;
- net-conf.json's vxlan backend is checked as pkg/backend/vxlan/vxlan_windows.go ``RegisterNetwork`` does:
  VNI >= 4096, Port exactly 4789, no DirectRouting, no GBP, MacPrefix ``xx-xx``, Name ``flannel.<VNI>``;
- device_windows.go ``ensureNetwork``: an existing network of that name is kept when its type and prefix
  match, otherwise deleted and created again: type Overlay, the lease as its subnet, gateway lease + 1,
  bound to the ``--iface`` adapter, flag ``EnableNonPersistent`` (a reboot removes it);
- the lease is published as node annotations (pkg/subnet/kube: ``flannel.alpha.coreos.com/backend-data``
  with the VNI and the network's DR MAC, ``backend-type``, ``public-ip``, ``kube-subnet-manager``) and
  written to the subnet file (main.go ``--subnet-file`` default ``/run/flannel/subnet.env``, which a
  Windows process resolves on its current drive).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

import yaml

from tests.lab.cluster_model import ClusterModel, ModelError
from tests.support.winrm import windows_hns as hns
from tests.support.winrm.host import ScriptError
from tests.support.winrm.machine import WindowsMachine

BOOLEAN_FLAGS = {"kube-subnet-mgr", "ip-masq", "iptables-forward-rules", "version"}
VALUE_FLAGS = {"kubeconfig-file", "net-config-path", "iface", "subnet-file", "public-ip", "kube-api-url"}
SUBNET_FILE = "C:\\run\\flannel\\subnet.env"
SERVICE_ACCOUNT = "kube-flannel/flannel"
ANNOTATION = "flannel.alpha.coreos.com/"


def parse_flags(argv: list[str]) -> dict[str, str]:
    """flannel's Go flag set: ``--name=value`` or a bare boolean; anything else is refused."""
    found: dict[str, str] = {}
    for arg in argv:
        name, sep, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or name not in BOOLEAN_FLAGS | VALUE_FLAGS:
            raise ScriptError(f"flanneld: flag provided but not defined: -{name}")
        if name in VALUE_FLAGS and not sep:
            raise ScriptError(f"flanneld: flag needs an argument: -{name}")
        found[name] = value if sep else "true"
    return found


def backend(net_conf: dict[str, Any]) -> dict[str, Any]:
    """The vxlan backend settings after vxlan_windows.go's defaults and checks."""
    settings = {"VNI": 4096, "Port": 4789, "MacPrefix": "0E-2A", "GBP": False, "DirectRouting": False}
    given = net_conf.get("Backend") or {}
    if str(given.get("Type", "")).lower() != "vxlan":
        raise ScriptError(f"flanneld (simulated): backend {given.get('Type')!r} is not vxlan")
    settings.update({k: v for k, v in given.items() if k != "Type"})
    if int(settings["VNI"]) < 4096:
        raise ScriptError(
            f"flanneld: invalid VXLAN backend config. VNI [{settings['VNI']}] must be greater than or "
            "equal to 4096 on Windows"
        )
    if int(settings["Port"]) != 4789:
        raise ScriptError(
            f"flanneld: invalid VXLAN backend config. Port [{settings['Port']}] is not supported on Windows"
        )
    if settings["DirectRouting"]:
        raise ScriptError("flanneld: invalid VXLAN backend config. DirectRouting is not supported on Windows")
    if settings["GBP"]:
        raise ScriptError("flanneld: invalid VXLAN backend config. GBP is not supported on Windows")
    prefix = str(settings["MacPrefix"])
    if len(prefix) != 5 or prefix[2] != "-":
        raise ScriptError(f"flanneld: invalid VXLAN backend config.MacPrefix [{prefix}] is invalid")
    settings.setdefault("Name", f"flannel.{settings['VNI']}")
    return settings


@dataclass(frozen=True)
class Inputs:
    """What flanneld read before it takes its lease: node name, credentials, backend, network, adapter."""

    node: str
    kubeconfig: dict[str, Any]
    settings: dict[str, Any]
    network: str
    adapter: str
    args: dict[str, str]

    @property
    def token(self) -> str:
        """The bearer token of the kubeconfig's user."""
        return str(self.kubeconfig["users"][0]["user"]["token"])


def read_inputs(machine: WindowsMachine, parameters: dict[str, Any], argv: list[str]) -> Inputs:
    """Parse the command line, the environment, the kubeconfig and net-conf.json as flanneld does."""
    args = parse_flags(argv)
    if args.get("kube-subnet-mgr") != "true":
        raise ScriptError("flanneld (simulated): only the kube subnet manager is modelled")
    node = _node_name(parameters)
    kubeconfig = _json_or_yaml(machine, args.get("kubeconfig-file", ""))
    net_conf = _json_or_yaml(machine, args.get("net-config-path", "C:\\etc\\kube-flannel\\net-conf.json"))
    settings = backend(net_conf)
    adapter = _adapter(machine, args.get("iface", ""))
    return Inputs(node, kubeconfig, settings, str(net_conf.get("Network", "")), adapter, args)


def start(
    machine: WindowsMachine, parameters: dict[str, Any], argv: list[str], cluster: ClusterModel
) -> None:
    """Run flanneld once against the cluster model: judge its inputs, take the lease, ensure the overlay
    network, publish the lease."""
    inputs = read_inputs(machine, parameters, argv)
    _check_credentials(cluster, inputs.token)
    entry = cluster.nodes().get(inputs.node)
    lease = check_lease(inputs, entry)
    network = ensure_network(machine, str(inputs.settings["Name"]), lease, inputs.adapter)
    annotations = lease_annotations(inputs, machine.adapters[inputs.adapter], network)
    known = dict((entry or {}).get("annotations") or {})
    cluster.update_node(inputs.node, annotations={**known, **annotations})
    write_subnet_file(machine, inputs, lease)


def _node_name(parameters: dict[str, Any]) -> str:
    environment = dict(str(e).split("=", 1) for e in parameters.get("AppEnvironmentExtra") or [])
    node = environment.get("NODE_NAME", "")
    if not node:
        raise ScriptError(
            "flanneld: failed to create SubnetManager: env variables POD_NAME and POD_NAMESPACE must be set"
        )
    return node


def _check_credentials(cluster: ClusterModel, token: str) -> None:
    try:
        owner = cluster.check_sa_token(token)
    except ModelError as exc:
        raise ScriptError(f"flanneld: failed to create SubnetManager: {exc}") from None
    if owner != SERVICE_ACCOUNT:
        raise ScriptError(
            f'flanneld: nodes is forbidden: User "system:serviceaccount:{owner}" cannot get nodes'
        )


def check_lease(inputs: Inputs, node: dict[str, Any] | None) -> ipaddress.IPv4Network:
    """The Node's ``spec.podCIDR`` (``node``: the model entry or the API object), inside the network."""
    if node is None:
        raise ScriptError(f'flanneld: failed to acquire lease: nodes "{inputs.node}" not found')
    cidr = node.get("podCIDR") or (node.get("spec") or {}).get("podCIDR")
    if not cidr:
        raise ScriptError(f'flanneld: failed to acquire lease: node "{inputs.node}" pod cidr not assigned')
    lease = ipaddress.IPv4Network(cidr)
    if not lease.subnet_of(ipaddress.IPv4Network(inputs.network)):
        raise ScriptError(f"flanneld: the lease {lease} is outside the configured network {inputs.network}")
    return lease


def _adapter(machine: WindowsMachine, iface: str) -> str:
    for adapter, address in machine.adapters.items():
        if iface in (adapter, address):
            return adapter
    if not iface:
        return next(iter(machine.adapters))
    raise ScriptError(f"flanneld: failed to find interface: {iface}")


def ensure_network(
    machine: WindowsMachine, name: str, lease: ipaddress.IPv4Network, adapter: str
) -> dict[str, Any]:
    with machine.lock:
        existing = machine.hns_networks.get(name)
        if existing is not None:
            if str(existing["type"]).lower() == "overlay" and existing["addressPrefix"] == str(lease):
                return existing
            try:
                hns.delete_network(machine, name)
            except hns.HnsError as exc:
                raise ScriptError(
                    f"flanneld: failed to delete existing HostComputeNetwork {name}: {exc}"
                ) from None
        request = {
            "Name": name,
            "Type": "Overlay",
            "NetworkAdapterName": adapter,
            "Subnets": [{"AddressPrefix": str(lease), "GatewayAddress": str(lease.network_address + 1)}],
        }
        network = hns.create_network(machine, request)
        network["persistent"] = False
        network["drMac"] = _dr_mac(machine.hostname, name)
        return network


def _dr_mac(hostname: str, network: str) -> str:
    """A stable per-host, per-network distributed-router MAC (HNS chooses one; its value is opaque)."""
    digest = hashlib.sha256(f"{hostname}/{network}".encode()).digest()
    return "00-15-5d-" + "-".join(f"{b:02x}" for b in digest[:3])


def lease_annotations(inputs: Inputs, public_ip: str, network: dict[str, Any]) -> dict[str, str]:
    """The Node annotations the kube subnet manager writes for the lease (pkg/subnet/kube)."""
    mac = network["drMac"].replace("-", ":")
    vni = int(inputs.settings["VNI"])
    return {
        ANNOTATION + "backend-data": json.dumps({"VNI": vni, "VtepMAC": mac}, separators=(",", ":")),
        ANNOTATION + "backend-type": "vxlan",
        ANNOTATION + "kube-subnet-manager": "true",
        ANNOTATION + "public-ip": public_ip,
    }


def write_subnet_file(machine: WindowsMachine, inputs: Inputs, lease: ipaddress.IPv4Network) -> None:
    """main.go WriteSubnetFile: the network, this node's subnet (its first address), MTU and ip-masq."""
    path = inputs.args.get("subnet-file") or SUBNET_FILE
    gateway = f"{lease.network_address + 1}/{lease.prefixlen}"
    masq = "true" if inputs.args.get("ip-masq") == "true" else "false"
    lines = [f"FLANNEL_NETWORK={inputs.network}", f"FLANNEL_SUBNET={gateway}", "FLANNEL_MTU=1450"]
    machine.write_file(path, "\n".join([*lines, f"FLANNEL_IPMASQ={masq}", ""]).encode())


def _json_or_yaml(machine: WindowsMachine, path: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(machine.read_file(path).decode("utf-8"))
    except FileNotFoundError:
        raise ScriptError(f"flanneld: open {path}: The system cannot find the file specified.") from None
    if not isinstance(loaded, dict):
        raise ScriptError(f"flanneld: {path} is not a mapping")
    return loaded
