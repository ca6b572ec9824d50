"""Semantic checks of a schema-valid inventory. Each returns problems; none stops at the first one."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator

from hybridctl.inventory.models import Cluster, Host, WinRMConnection
from hybridctl.inventory.problems import Problem, error, warning
from hybridctl.versions import SUPPORTED_RANGE, WINDOWS_BUILDS, KubeVersion

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_ENDPOINT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:(?P<port>\d{1,5}))?$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_IMAGE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
WINDOWS_NAME_MAX = 15
PASSWORD_AUTHS = ("ntlm", "negotiate", "kerberos", "credssp", "basic")

Check = Callable[[Cluster], Iterator[Problem]]


def check_cluster(cluster: Cluster) -> list[Problem]:
    """Every semantic problem of ``cluster``, errors and warnings."""
    return [problem for check in CHECKS for problem in check(cluster)]


def check_metadata(cluster: Cluster) -> Iterator[Problem]:
    """The cluster name becomes a directory and a label: a lowercase RFC 1123 label."""
    if not _LABEL.match(cluster.name) or len(cluster.name) > 63:
        yield error(
            ("metadata", "name"),
            f"cluster name {cluster.name!r} is not a lowercase RFC 1123 label",
            hint="use lowercase letters, digits and '-', at most 63 characters",
        )


def check_version(cluster: Cluster) -> Iterator[Problem]:
    """An exact Kubernetes patch version inside the supported range."""
    path = ("spec", "kubernetes", "version")
    try:
        version = KubeVersion.parse(cluster.spec.kubernetes.version)
    except ValueError as exc:
        yield error(path, str(exc), hint="write the exact patch release, e.g. 1.34.2")
        return
    if not version.supported:
        yield error(
            path,
            f"Kubernetes {version} is outside the supported range {SUPPORTED_RANGE}",
            hint=f"pick a release from {SUPPORTED_RANGE}",
        )


def check_control_planes(cluster: Cluster) -> Iterator[Problem]:
    """At least one control plane, all of them Linux, and an endpoint when there are several."""
    planes = cluster.control_planes
    if not planes:
        yield error(
            ("spec", "hosts"),
            "no host has role: control-plane",
            hint="give one Linux host role: control-plane",
        )
    for index, host in enumerate(cluster.hosts):
        if host.is_control_plane and host.is_windows:
            yield error(
                ("spec", "hosts", index, "os"),
                f"host {host.name!r}: the control plane must run on Linux",
                hint="Windows hosts can only be workers: set role: worker",
            )
    endpoint = cluster.spec.kubernetes.control_plane_endpoint
    if len(planes) > 1 and not endpoint:
        yield error(
            ("spec", "kubernetes"),
            f"{len(planes)} control-plane hosts need controlPlaneEndpoint",
            hint="set spec.kubernetes.controlPlaneEndpoint to a load balancer or VIP host:port",
        )
    if endpoint is not None:
        yield from _check_endpoint(endpoint)


def _check_endpoint(endpoint: str) -> Iterator[Problem]:
    match = _ENDPOINT.match(endpoint)
    if not match or (match.group("port") and not 0 < int(match.group("port")) < 65536):
        yield error(
            ("spec", "kubernetes", "controlPlaneEndpoint"),
            f"{endpoint!r} is not host[:port]",
            hint="e.g. k8s-api.example.com:6443 or 10.0.0.100:6443",
        )


def _network(path: tuple[str, ...], text: str) -> tuple[ipaddress.IPv4Network | None, list[Problem]]:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        return None, [error(path, f"{text!r} is not a valid CIDR: {exc}", hint="e.g. 10.244.0.0/16")]
    if not isinstance(net, ipaddress.IPv4Network):
        return None, [error(path, f"{text!r} is IPv6; hybridctl supports IPv4 clusters only")]
    return net, []


def check_subnets(cluster: Cluster) -> Iterator[Problem]:
    """Valid, non-overlapping pod and service subnets, large enough for a CIDR per node."""
    k8s = cluster.spec.kubernetes
    pod, found = _network(("spec", "kubernetes", "podSubnet"), k8s.pod_subnet)
    yield from found
    svc, found = _network(("spec", "kubernetes", "serviceSubnet"), k8s.service_subnet)
    yield from found
    if pod and svc and pod.overlaps(svc):
        yield error(
            ("spec", "kubernetes", "serviceSubnet"),
            f"service subnet {svc} overlaps pod subnet {pod}",
            hint="choose disjoint ranges, e.g. pods 10.244.0.0/16 and services 10.96.0.0/12",
        )
    if pod:
        yield from _check_pod_capacity(cluster, pod)
    for index, host in enumerate(cluster.hosts):
        yield from _check_address_outside(index, host, {"pod subnet": pod, "service subnet": svc})


def _check_pod_capacity(cluster: Cluster, pod: ipaddress.IPv4Network) -> Iterator[Problem]:
    mask = cluster.spec.kubernetes.node_cidr_mask_size
    path = ("spec", "kubernetes", "podSubnet")
    if mask <= pod.prefixlen:
        yield error(
            path,
            f"pod subnet {pod} is not larger than the per-node /{mask}",
            hint=f"use a pod subnet shorter than /{mask}, e.g. /16",
        )
        return
    capacity = 2 ** (mask - pod.prefixlen)
    if capacity < len(cluster.hosts):
        yield error(
            path,
            f"pod subnet {pod} holds {capacity} node CIDRs of /{mask} but there are "
            f"{len(cluster.hosts)} hosts",
            hint="use a larger pod subnet, e.g. a /16",
        )


def _check_address_outside(
    index: int, host: Host, nets: dict[str, ipaddress.IPv4Network | None]
) -> Iterator[Problem]:
    try:
        address = ipaddress.ip_address(host.address)
    except ValueError:
        return
    for label, net in nets.items():
        if net is not None and address in net:
            yield error(
                ("spec", "hosts", index, "address"),
                f"host address {address} lies inside the {label} {net}",
                hint="pod and service subnets must not overlap the node network",
            )


def check_hosts(cluster: Cluster) -> Iterator[Problem]:
    """Unique, valid names and addresses; exactly one connection block matching the OS."""
    if not cluster.hosts:
        yield error(("spec", "hosts"), "the inventory lists no hosts")
    yield from _duplicates(cluster, "name", lambda h: h.name)
    yield from _duplicates(cluster, "address", lambda h: h.address)
    for index, host in enumerate(cluster.hosts):
        yield from _check_name(index, host)
        yield from _check_address(index, host)
        yield from _check_connection(index, host)
        yield from _check_windows_fields(index, host)


def _duplicates(cluster: Cluster, field: str, key: Callable[[Host], str]) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for index, host in enumerate(cluster.hosts):
        value = key(host)
        if value in seen:
            yield error(
                ("spec", "hosts", index, field),
                f"duplicate host {field} {value!r} (also hosts[{seen[value]}])",
                hint=f"every host needs its own {field}",
            )
        else:
            seen[value] = index


def _check_name(index: int, host: Host) -> Iterator[Problem]:
    path = ("spec", "hosts", index, "name")
    if host.is_windows:
        if not _LABEL.match(host.name) or len(host.name) > WINDOWS_NAME_MAX:
            yield error(
                path,
                f"Windows node name {host.name!r} must be a lowercase RFC 1123 label of at most "
                f"{WINDOWS_NAME_MAX} characters",
                hint="rename the computer, e.g. 'win-worker-1'",
            )
    elif not _SUBDOMAIN.match(host.name) or len(host.name) > 253:
        yield error(
            path,
            f"node name {host.name!r} is not a lowercase RFC 1123 name",
            hint="use lowercase letters, digits, '-' and '.'",
        )


def _check_address(index: int, host: Host) -> Iterator[Problem]:
    try:
        address = ipaddress.ip_address(host.address)
    except ValueError:
        yield error(
            ("spec", "hosts", index, "address"),
            f"{host.address!r} is not an IP address",
            hint="routes need the node's IPv4 address, not a DNS name",
        )
        return
    if address.version != 4:
        yield error(("spec", "hosts", index, "address"), f"{address} is IPv6; only IPv4 is supported")


def _check_connection(index: int, host: Host) -> Iterator[Problem]:
    path = ("spec", "hosts", index)
    if (host.ssh is None) == (host.winrm is None):
        yield error(path, f"host {host.name!r} needs exactly one connection block, ssh or winrm")
    elif host.is_windows and host.ssh is not None:
        yield error(
            (*path, "ssh"), f"Windows host {host.name!r} is reached over WinRM", hint="use a winrm: block"
        )
    elif not host.is_windows and host.winrm is not None:
        yield error(
            (*path, "winrm"), f"Linux host {host.name!r} is reached over SSH", hint="use an ssh: block"
        )
    if host.winrm is not None:
        yield from check_winrm((*path, "winrm"), host.winrm)


def check_winrm(path: tuple[str | int, ...], winrm: WinRMConnection) -> Iterator[Problem]:
    """Transport security of a WinRM block."""
    if winrm.auth == "basic" and winrm.scheme == "http":
        yield error(
            (*path, "auth"),
            "basic auth over plain http is refused: the password would travel in clear",
            hint="use scheme: https, or auth: ntlm/negotiate/kerberos (message encryption)",
        )
    if not winrm.verify_certificate and not winrm.insecure:
        yield error(
            (*path, "verifyCertificate"),
            "certificate validation is turned off without insecure: true",
            hint="give caBundle instead, or set insecure: true if you accept the risk",
        )
    if winrm.auth == "certificate":
        yield from _check_certificate_auth(path, winrm)
    elif winrm.auth in PASSWORD_AUTHS and (not winrm.user or winrm.password is None):
        yield error(
            path, f"auth {winrm.auth} needs user and password", hint="password: ${env:WINRM_PASSWORD}"
        )
    if winrm.read_timeout <= winrm.operation_timeout:
        yield error(
            (*path, "readTimeout"),
            "readTimeout must be larger than operationTimeout",
            hint=f"e.g. readTimeout: {winrm.operation_timeout + 10}",
        )


def _check_certificate_auth(path: tuple[str | int, ...], winrm: WinRMConnection) -> Iterator[Problem]:
    if winrm.scheme != "https":
        yield error((*path, "scheme"), "certificate auth works over https only", hint="set scheme: https")
    if not winrm.certificate_file or not winrm.certificate_key_file:
        yield error(path, "auth certificate needs certificateFile and certificateKeyFile")


def _check_windows_fields(index: int, host: Host) -> Iterator[Problem]:
    path = ("spec", "hosts", index)
    if host.windows_version is not None:
        if not host.is_windows:
            yield error((*path, "windowsVersion"), f"Linux host {host.name!r} has a windowsVersion")
        elif host.windows_version not in WINDOWS_BUILDS:
            supported = ", ".join(str(v) for v in WINDOWS_BUILDS)
            yield error(
                (*path, "windowsVersion"),
                f"Windows Server {host.windows_version} is not supported",
                hint=f"supported: {supported}",
            )
    if host.interface is not None and (not host.interface.strip() or _CONTROL.search(host.interface)):
        yield error(
            (*path, "interface"), "interface must be a network adapter name without control characters"
        )


def check_labels_and_taints(cluster: Cluster) -> Iterator[Problem]:
    """Kubernetes label and taint syntax."""
    for index, host in enumerate(cluster.hosts):
        for key, value in host.labels.items():
            yield from _check_label(("spec", "hosts", index, "labels", key), key, value)
        for t_index, taint in enumerate(host.taints):
            path = ("spec", "hosts", index, "taints", t_index)
            if not _valid_qualified_name(taint.key):
                yield error((*path, "key"), f"taint key {taint.key!r} is not a valid qualified name")
            if not _valid_label_value(taint.value):
                yield error((*path, "value"), f"taint value {taint.value!r} is not a valid label value")


def _check_label(path: tuple[str | int, ...], key: str, value: str) -> Iterator[Problem]:
    if not _valid_qualified_name(key):
        yield error(
            path,
            f"label key {key!r} is not a valid qualified name",
            hint="[prefix/]name: name of letters, digits, '-', '_', '.', at most 63 characters",
        )
    if not _valid_label_value(value):
        yield error(
            path,
            f"label value {value!r} is not valid",
            hint="at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric",
        )


def _valid_qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return False
    return bool(name) and len(name) <= 63 and bool(_LABEL_NAME.match(name))


def _valid_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_NAME.match(value))


def check_windows_features(cluster: Cluster) -> Iterator[Problem]:
    """Warnings about Windows features that need something from the host."""
    mode = cluster.spec.network.mode
    for index, host in enumerate(cluster.hosts):
        if host.is_windows and host.windows_version == 2019 and mode == "vxlan":
            yield warning(
                ("spec", "hosts", index, "windowsVersion"),
                f"vxlan on Windows Server 2019 ({host.name}) needs KB4489899",
                hint="preflight checks the hotfix; install the latest cumulative update",
            )
    if "hyperv" in cluster.spec.windows.isolation and cluster.windows_hosts:
        yield warning(
            ("spec", "windows", "isolation"),
            "hyperv isolation needs the Hyper-V feature and CPU virtualisation (nested in VMs)",
            hint="preflight checks it on every Windows host before anything changes",
        )
    if "process" not in cluster.spec.windows.isolation:
        yield error(
            ("spec", "windows", "isolation"),
            "process isolation is the default runtime and cannot be removed",
            hint="list process, optionally with hyperv",
        )


def check_software(cluster: Cluster) -> Iterator[Problem]:
    """containerd version, pause image and artifact source."""
    spec = cluster.spec
    if not _SEMVER.match(spec.containerd.version):
        yield error(
            ("spec", "containerd", "version"), f"{spec.containerd.version!r} is not a version like 2.1.4"
        )
    elif _older(spec.containerd.version, (1, 7)) or not _older(spec.containerd.version, (3,)):
        yield error(("spec", "containerd", "version"), "containerd 1.7.x or 2.x is required")
    yield from _check_pause(cluster)
    yield from _check_artifacts(cluster)


def _check_pause(cluster: Cluster) -> Iterator[Problem]:
    image = cluster.spec.containerd.pause_image
    path = ("spec", "containerd", "pauseImage")
    if not _IMAGE.match(image):
        yield error(path, f"{image!r} is not an image reference", hint="e.g. registry.k8s.io/pause:3.10.2")
        return
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
    has_2025 = any(h.windows_version == 2025 for h in cluster.windows_hosts)
    if has_2025 and image.startswith("registry.k8s.io/pause:") and _older(tag, (3, 10, 2)):
        yield error(
            path, f"{image} has no Windows Server 2025 manifest", hint="use registry.k8s.io/pause:3.10.2"
        )


def _older(tag: str, than: tuple[int, ...]) -> bool:
    try:
        parts = tuple(int(p) for p in tag.split("."))
    except ValueError:
        return False
    return parts < than


def _check_artifacts(cluster: Cluster) -> Iterator[Problem]:
    art = cluster.spec.artifacts
    path = ("spec", "artifacts")
    if art.source == "mirror" and not art.mirror_url:
        yield error(
            (*path, "source"), "source: mirror needs mirrorUrl", hint="mirrorUrl: https://mirror.example/k8s"
        )
    if art.mirror_url is not None and not re.match(r"^https?://[^\s'\"`$;]+$", art.mirror_url):
        yield error((*path, "mirrorUrl"), f"{art.mirror_url!r} is not an http(s) URL")
    if art.mirror_url is not None and art.source != "mirror":
        yield warning((*path, "mirrorUrl"), "mirrorUrl is ignored unless source: mirror")


CHECKS: tuple[Check, ...] = (
    check_metadata,
    check_version,
    check_control_planes,
    check_subnets,
    check_hosts,
    check_labels_and_taints,
    check_windows_features,
    check_software,
)
