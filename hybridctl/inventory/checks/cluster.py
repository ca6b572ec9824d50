"""Cluster-wide settings: name, Kubernetes version, control planes, subnets."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from hybridctl.inventory.checks.common import (
    EXACT_VERSION,
    HOSTS,
    K8S,
    LABEL,
    NAME_HINT,
    NODE_MASK_MAX_DIFF,
    SERVICE_PREFIX_MAX,
    SERVICE_PREFIX_MIN,
    Network,
    is_dns_name,
    is_ip,
)
from hybridctl.inventory.models import Cluster
from hybridctl.inventory.problems import Path, Problem, error, warning
from hybridctl.versions import DEFAULT_VERSION, MIN_MINOR, SUPPORTED_RANGE, KubeVersion


def check_metadata(cluster: Cluster) -> Iterator[Problem]:
    """The cluster name becomes a directory and a label: a lowercase RFC 1123 label."""
    if not LABEL.fullmatch(cluster.name) or len(cluster.name) > 63:
        yield error(("metadata", "name"), f"{cluster.name!r} is not a lowercase RFC 1123 label", NAME_HINT)


def check_version(cluster: Cluster) -> Iterator[Problem]:
    """An exact Kubernetes patch version inside the supported range."""
    path, text = (*K8S, "version"), cluster.spec.kubernetes.version
    if not EXACT_VERSION.fullmatch(text):
        hint = f"write the patch release, e.g. {DEFAULT_VERSION}"
        yield error(path, f"{text!r} is not an exact Kubernetes version", hint)
    elif not (version := KubeVersion.parse(text)).supported:
        message = f"Kubernetes {version} is outside the supported range {SUPPORTED_RANGE}"
        yield error(path, message, _range_hint(version))


def _range_hint(version: KubeVersion) -> str:
    if (version.major, version.minor) < (1, MIN_MINOR):
        return (
            f"pick a release from {SUPPORTED_RANGE} (default {DEFAULT_VERSION}); an existing cluster "
            f"must first be upgraded to 1.{MIN_MINOR} with kubeadm (hybridctl does not upgrade yet)"
        )
    return f"pick a release from {SUPPORTED_RANGE} (default {DEFAULT_VERSION})"


def check_kubernetes_names(cluster: Cluster) -> Iterator[Problem]:
    """DNS domain and certificate SANs are names the API server and CoreDNS can use."""
    k8s = cluster.spec.kubernetes
    if not is_dns_name(k8s.dns_domain, lowercase=True):
        yield error(
            (*K8S, "dnsDomain"), f"{k8s.dns_domain!r} is not a lowercase DNS domain", "e.g. cluster.local"
        )
    for index, san in enumerate(k8s.cert_sans):
        if not (is_ip(san) or is_dns_name(san.removeprefix("*."), lowercase=False)):
            message = f"{san!r} is neither an IP address nor a DNS name"
            yield error((*K8S, "certSANs", index), message, "e.g. k8s-api.example.com or 10.0.0.100")


def check_control_planes(cluster: Cluster) -> Iterator[Problem]:
    """At least one control plane, all of them Linux, and an endpoint when there are several."""
    planes = cluster.control_planes
    if cluster.hosts and not planes:
        yield error(HOSTS, "no host has role: control-plane", "give one Linux host role: control-plane")
    for index, host in enumerate(cluster.hosts):
        if host.is_control_plane and host.is_windows:
            message = f"host {host.name!r}: the control plane must run on Linux"
            yield error(
                (*HOSTS, index, "role"), message, "Windows hosts can only be workers: set role: worker"
            )
    # A Windows control plane is already an error; counting it again would only add noise.
    yield from _check_ha(cluster, len([h for h in planes if not h.is_windows]))


def _check_ha(cluster: Cluster, planes: int) -> Iterator[Problem]:
    endpoint = cluster.spec.kubernetes.control_plane_endpoint
    path = (*K8S, "controlPlaneEndpoint")
    if planes > 1 and not endpoint:
        hint = "set it to a load balancer or VIP host:port"
        yield error(path, f"{planes} control-plane hosts need controlPlaneEndpoint", hint)
    if planes > 1 and planes % 2 == 0:
        message = f"{planes} control-plane hosts: etcd tolerates no more failures than with {planes - 1}"
        yield warning(HOSTS, message, "use 3 or 5 control-plane hosts")
    if endpoint is not None and _split_endpoint(endpoint) is None:
        yield error(path, f"{endpoint!r} is not host[:port]", "e.g. k8s-api.example.com:6443")


def _split_endpoint(endpoint: str) -> tuple[str, int] | None:
    """``host[:port]`` as (host, port), or None when it is not one."""
    host, _, port = endpoint.partition(":") if endpoint.count(":") == 1 else (endpoint, "", "")
    if port and (not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536):
        return None
    if not (is_ip(host) or is_dns_name(host, lowercase=False)):
        return None
    return host, int(port or 6443)


def _network(path: Path, text: str) -> tuple[Network | None, list[Problem]]:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        return None, [_bad_cidr(path, text)]
    if not isinstance(net, Network):
        return None, [
            error(path, f"{text!r} is IPv6; hybridctl supports IPv4 clusters only", "e.g. 10.244.0.0/16")
        ]
    return net, []


def _bad_cidr(path: Path, text: str) -> Problem:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return error(path, f"{text!r} is not a CIDR", hint="write address/prefix length, e.g. 10.244.0.0/16")
    return error(path, f"{text!r} has host bits set", hint=f"did you mean {network}?")


def check_subnets(cluster: Cluster) -> Iterator[Problem]:
    """Valid, non-overlapping pod and service subnets, large enough for a CIDR per node."""
    pod, found = _network((*K8S, "podSubnet"), cluster.spec.kubernetes.pod_subnet)
    yield from found
    svc, found = _network((*K8S, "serviceSubnet"), cluster.spec.kubernetes.service_subnet)
    yield from found
    if pod and svc and pod.overlaps(svc):
        hint = "choose disjoint ranges, e.g. pods 10.244.0.0/16 and services 10.96.0.0/12"
        yield error((*K8S, "serviceSubnet"), f"service subnet {svc} overlaps pod subnet {pod}", hint)
    if pod:
        yield from _check_pod_capacity(cluster, pod)
    if svc:
        yield from _check_service_size(svc)
    yield from _check_addresses_outside(cluster, {"pod subnet": pod, "service subnet": svc})


def _check_addresses_outside(cluster: Cluster, nets: dict[str, Network | None]) -> Iterator[Problem]:
    for index, host in enumerate(cluster.hosts):
        yield from _outside((*HOSTS, index, "address"), host.address, nets)
    endpoint = _split_endpoint(cluster.spec.kubernetes.control_plane_endpoint or "")
    if endpoint:
        yield from _outside((*K8S, "controlPlaneEndpoint"), endpoint[0], nets)


def _check_pod_capacity(cluster: Cluster, pod: Network) -> Iterator[Problem]:
    mask, hosts = cluster.spec.kubernetes.node_cidr_mask_size, len(cluster.hosts)
    path = (*K8S, "podSubnet")
    if mask < pod.prefixlen:
        yield error(path, f"pod subnet {pod} is smaller than one node's /{mask}", f"use a /{mask} or larger")
    elif mask - pod.prefixlen > NODE_MASK_MAX_DIFF:
        message = f"kube-controller-manager refuses node CIDRs (/{mask}) more than {NODE_MASK_MAX_DIFF} bits "
        hint = f"use nodeCidrMaskSize: {pod.prefixlen + NODE_MASK_MAX_DIFF} or less"
        yield error((*K8S, "nodeCidrMaskSize"), message + f"smaller than the pod subnet {pod}", hint)
    elif (capacity := 2 ** (mask - pod.prefixlen)) < hosts:
        message = f"pod subnet {pod} holds {capacity} node CIDRs of /{mask} but there are {hosts} hosts"
        yield error(path, message, "use a larger pod subnet, e.g. a /16")


def _check_service_size(svc: Network) -> Iterator[Problem]:
    path = (*K8S, "serviceSubnet")
    if svc.prefixlen < SERVICE_PREFIX_MIN:
        message = f"service subnet {svc} is larger than the /{SERVICE_PREFIX_MIN} the API server accepts"
        yield error(path, message, "e.g. 10.96.0.0/12")
    elif svc.prefixlen > SERVICE_PREFIX_MAX:
        message = f"service subnet {svc} is too small: the cluster DNS service takes its 10th address"
        yield error(path, message, f"use a /{SERVICE_PREFIX_MAX} or larger, e.g. 10.96.0.0/12")


def _outside(path: Path, text: str, nets: dict[str, Network | None]) -> Iterator[Problem]:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return
    for label, net in nets.items():
        if net is not None and address in net:
            hint = "pod and service subnets must not overlap the node network"
            yield error(path, f"address {address} lies inside the {label} {net}", hint)
