"""The simulated Host Networking Service: networks, endpoints, host attachment and the interfaces they make.

Simulated: HNS, modelled on upstream evidence rather than on what hybridctl sends:
- a GET of a network created as ``L2Bridge`` answers ``Type: l2bridge`` and an empty
  ``NetworkAdapterName`` (flanneld's log in flannel-io/flannel#833);
- a network on an adapter that does not exist fails with "An adapter was not found" (microsoft/SDN#300);
- the first external network moves the adapter's address to ``vEthernet (<adapter>)``, and that vNIC may
  take a while to hold the management IP (``vnic_delay``; flannel polls for it in hostgw_windows.go);
- attaching an attached endpoint fails with "This endpoint is already attached to the switch."
  (flannel-io/flannel#1391, matched by flannel in hostgw_windows.go); a reboot detaches endpoints
  (``WindowsMachine.power_cycle``), and ``vEthernet (<endpoint>)`` exists only while attached;
- a network with endpoints cannot be deleted (microsoft/SDN reset.ps1 and sig-windows-tools remove
  containers and endpoints before networks).
"""

from __future__ import annotations

import time
from typing import Any

from tests.support.winrm.machine import WindowsMachine

ALREADY_ATTACHED = "This endpoint is already attached to the switch."


class HnsError(Exception):
    """What HNSCall answers in its Error member."""


def reported_network(network: dict[str, Any]) -> dict[str, Any]:
    """A network as an HNS GET reports it (flannel-io/flannel#833): type lower-case, no adapter name."""
    return {
        "id": network["id"],
        "type": str(network["type"]).lower(),
        "adapter": "",
        "addressPrefix": network["addressPrefix"],
        "gateway": network["gateway"],
    }


def reported_endpoint(endpoint: dict[str, Any]) -> dict[str, Any]:
    """An endpoint as an HNS GET reports it (attachment is not part of it)."""
    return {k: endpoint[k] for k in ("id", "network", "ipAddress")}


def interfaces(machine: WindowsMachine) -> dict[str, str]:
    """``Get-NetIPInterface``/``Get-NetIPAddress`` view: interface alias -> IPv4 address held now."""
    bound = {n["adapter"]: n for n in machine.hns_networks.values()}
    found = {}
    for adapter, address in machine.adapters.items():
        network = bound.get(adapter)
        if network is None:
            found[adapter] = address
        elif time.monotonic() >= network.get("vnicReadyAt", 0.0):
            found[f"vEthernet ({adapter})"] = address
    for name, endpoint in machine.hns_endpoints.items():
        if endpoint.get("attached"):
            found[f"vEthernet ({name})"] = endpoint["ipAddress"]
    return found


def create_network(machine: WindowsMachine, request: dict[str, Any]) -> dict[str, Any]:
    """POST /networks."""
    adapter = str(request.get("NetworkAdapterName") or next(iter(machine.adapters), ""))
    if adapter not in machine.adapters:
        raise HnsError("An adapter was not found")
    subnet = request["Subnets"][0]
    network = {
        "id": "net-" + request["Name"],
        "type": request["Type"],
        "adapter": adapter,
        "addressPrefix": subnet["AddressPrefix"],
        "gateway": subnet["GatewayAddress"],
        "vnicReadyAt": time.monotonic() + machine.vnic_delay,
    }
    machine.hns_networks[request["Name"]] = network
    return network


def management_ip(machine: WindowsMachine, name: str) -> str | None:
    """The network's ManagementIP once its vNIC holds it."""
    network = machine.hns_networks[name]
    if time.monotonic() < network.get("vnicReadyAt", 0.0):
        return None
    return machine.adapters[network["adapter"]]


def delete_network(machine: WindowsMachine, name: str) -> None:
    """DELETE /networks/<id>: refused while endpoints are on it."""
    attached = [n for n, e in machine.hns_endpoints.items() if e["network"] == name]
    if attached:
        raise HnsError(f"The network has {len(attached)} endpoints attached: {', '.join(sorted(attached))}")
    del machine.hns_networks[name]


def create_endpoint(machine: WindowsMachine, name: str, network: str, address: str) -> None:
    """POST /endpoints (detached)."""
    machine.hns_endpoints[name] = {
        "id": "ep-" + name,
        "network": network,
        "ipAddress": address,
        "attached": False,
    }


def attach(machine: WindowsMachine, name: str) -> None:
    """POST /endpoints/<id>/attach to the host compartment."""
    endpoint = machine.hns_endpoints[name]
    if endpoint["attached"]:
        raise HnsError(ALREADY_ATTACHED)
    endpoint["attached"] = True
