"""Addresses derived from the inventory and the runtime values: DNS IP, API endpoint, gateways, routes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hybridctl.errors import RenderError
from hybridctl.inventory import Cluster, Host
from hybridctl.render.placeholders import is_placeholder, placeholder
from hybridctl.render.values import RuntimeValues

API_PORT = 6443
DNS_SERVICE_INDEX = 10  # kubeadm gives kube-dns the 10th address of the service subnet
ROUTE_METRIC = 300
LINUX_ROUTE_PROTO = 233  # marks hybridctl's pod routes in the kernel table so stale ones can be found


@dataclass(frozen=True)
class Route:
    """A route on one node to another node's pod CIDR."""

    destination: str
    via: str
    node: str


def cluster_dns(cluster: Cluster) -> str:
    """The kube-dns Service address."""
    net = ipaddress.ip_network(cluster.spec.kubernetes.service_subnet)
    return str(net.network_address + DNS_SERVICE_INDEX)


def api_endpoint(cluster: Cluster) -> tuple[str, int]:
    """(host, port) of the API server: the inventory's endpoint or the first control plane."""
    endpoint = cluster.spec.kubernetes.control_plane_endpoint
    if not endpoint:
        return cluster.first_control_plane.address, API_PORT
    host, sep, port = endpoint.rpartition(":")
    if sep and port.isdigit() and (not host.startswith("[") or host.endswith("]")):
        return host, int(port)
    return endpoint, API_PORT


def api_server_url(cluster: Cluster) -> str:
    """``https://host:port`` of the API server as node agents reach it."""
    host, port = api_endpoint(cluster)
    return f"https://{host}:{port}"


def pod_cidr(values: RuntimeValues, host: Host) -> str:
    """The node's pod CIDR, or its placeholder."""
    return values.pod_cidrs.get(host.name) or placeholder(f"pod-cidr/{host.name}")


def nth_address(cidr: str, index: int) -> str:
    """The ``index``-th address of ``cidr``; a placeholder stays a placeholder."""
    if is_placeholder(cidr):
        return cidr
    return str(ipaddress.ip_network(cidr).network_address + index)


def routes_for(cluster: Cluster, values: RuntimeValues, host: Host) -> list[Route]:
    """One route to every other node's pod CIDR via that node's address, none to the node's own."""
    return [
        Route(pod_cidr(values, other), other.address, other.name) for other in cluster.hosts if other != host
    ]


def check_values(cluster: Cluster, values: RuntimeValues) -> None:
    """RenderError when the runtime values contradict the inventory."""
    problems = _unknown_hosts(cluster, values) + _pod_cidr_problems(cluster, values)
    problems += _source_vip_problems(cluster, values) + _build_problems(cluster, values)
    if problems:
        raise RenderError("the runtime values do not fit the inventory:\n" + "\n".join(problems))


def _unknown_hosts(cluster: Cluster, values: RuntimeValues) -> list[str]:
    known = {h.name for h in cluster.hosts}
    return [f"host {name!r} is not in the inventory" for name in sorted(values.host_names() - known)]


def _pod_cidr_problems(cluster: Cluster, values: RuntimeValues) -> list[str]:
    k8s = cluster.spec.kubernetes
    subnet = ipaddress.ip_network(k8s.pod_subnet)
    problems: list[str] = []
    seen: dict[str, str] = {}
    for name, text in values.pod_cidrs.items():
        net = ipaddress.ip_network(text)
        if not (isinstance(net, ipaddress.IPv4Network) and net.subnet_of(subnet)):  # type: ignore[arg-type]
            problems.append(f"pod CIDR {text} of {name!r} is outside the pod subnet {subnet}")
        elif net.prefixlen != k8s.node_cidr_mask_size:
            problems.append(f"pod CIDR {text} of {name!r} is not a /{k8s.node_cidr_mask_size}")
        if text in seen:
            problems.append(f"pod CIDR {text} is given to both {seen[text]!r} and {name!r}")
        seen[text] = name
    return problems


def _source_vip_problems(cluster: Cluster, values: RuntimeValues) -> list[str]:
    problems = []
    for name, vip in values.source_vips.items():
        cidr = values.pod_cidrs.get(name)
        if cidr and ipaddress.ip_address(vip) not in ipaddress.ip_network(cidr):
            problems.append(f"source VIP {vip} of {name!r} is outside its pod CIDR {cidr}")
    return problems


def _build_problems(cluster: Cluster, values: RuntimeValues) -> list[str]:
    linux = {h.name for h in cluster.linux_hosts}
    return [
        f"{name!r} is a Linux host; windowsBuilds is for Windows hosts"
        for name in values.windows_builds
        if name in linux
    ]
