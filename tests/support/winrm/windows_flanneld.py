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


def start(
    machine: WindowsMachine, parameters: dict[str, Any], argv: list[str], cluster: ClusterModel
) -> None:
    """Run flanneld once: judge its inputs, take the lease, ensure the overlay network, publish the lease."""
    args = parse_flags(argv)
    if args.get("kube-subnet-mgr") != "true":
        raise ScriptError("flanneld (simulated): only the kube subnet manager is modelled")
    node = _node_name(parameters)
    kubeconfig = _json_or_yaml(machine, args.get("kubeconfig-file", ""))
    _check_credentials(cluster, str(kubeconfig["users"][0]["user"]["token"]))
    net_conf = _json_or_yaml(machine, args.get("net-config-path", "C:\\etc\\kube-flannel\\net-conf.json"))
    settings = backend(net_conf)
    lease = _lease(cluster, node, str(net_conf.get("Network", "")))
    adapter = _adapter(machine, args.get("iface", ""))
    network = _ensure_network(machine, str(settings["Name"]), lease, adapter)
    _publish(cluster, node, machine.adapters[adapter], int(settings["VNI"]), network)
    _subnet_file(machine, args, str(net_conf["Network"]), lease)


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


def _lease(cluster: ClusterModel, node: str, network: str) -> ipaddress.IPv4Network:
    entry = cluster.nodes().get(node)
    if entry is None:
        raise ScriptError(f'flanneld: failed to acquire lease: nodes "{node}" not found')
    if not entry.get("podCIDR"):
        raise ScriptError(f'flanneld: failed to acquire lease: node "{node}" pod cidr not assigned')
    lease = ipaddress.IPv4Network(entry["podCIDR"])
    if not lease.subnet_of(ipaddress.IPv4Network(network)):
        raise ScriptError(f"flanneld: the lease {lease} is outside the configured network {network}")
    return lease


def _adapter(machine: WindowsMachine, iface: str) -> str:
    for adapter, address in machine.adapters.items():
        if iface in (adapter, address):
            return adapter
    if not iface:
        return next(iter(machine.adapters))
    raise ScriptError(f"flanneld: failed to find interface: {iface}")


def _ensure_network(
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


def _publish(cluster: ClusterModel, node: str, public_ip: str, vni: int, network: dict[str, Any]) -> None:
    mac = network["drMac"].replace("-", ":")
    entry = cluster.nodes()[node]
    annotations = {
        **dict(entry.get("annotations") or {}),
        ANNOTATION + "backend-data": json.dumps({"VNI": vni, "VtepMAC": mac}, separators=(",", ":")),
        ANNOTATION + "backend-type": "vxlan",
        ANNOTATION + "kube-subnet-manager": "true",
        ANNOTATION + "public-ip": public_ip,
    }
    cluster.update_node(node, annotations=annotations)


def _subnet_file(
    machine: WindowsMachine, args: dict[str, str], network: str, lease: ipaddress.IPv4Network
) -> None:
    path = args.get("subnet-file") or SUBNET_FILE
    gateway = f"{lease.network_address + 1}/{lease.prefixlen}"
    masq = "true" if args.get("ip-masq") == "true" else "false"
    text = f"FLANNEL_NETWORK={network}\nFLANNEL_SUBNET={gateway}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ={masq}\n"
    machine.write_file(path, text.encode())


def _json_or_yaml(machine: WindowsMachine, path: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(machine.read_file(path).decode("utf-8"))
    except FileNotFoundError:
        raise ScriptError(f"flanneld: open {path}: The system cannot find the file specified.") from None
    if not isinstance(loaded, dict):
        raise ScriptError(f"flanneld: {path} is not a mapping")
    return loaded
