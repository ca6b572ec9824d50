"""Semantic checks of a schema-valid inventory. Each returns problems; none stops at the first one.

Messages quote structured values (names, addresses, CIDRs, versions) so the user sees what is wrong, but
never free text such as user names, paths or passwords: the loader masks secrets as a second line of
defence, the first is not to print them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator

from hybridctl.artifacts import Catalog
from hybridctl.inventory.models import Bastion, Cluster, Host, SSHConnection, WinRMConnection
from hybridctl.inventory.problems import Path, Problem, error, warning
from hybridctl.inventory.schema_errors import closest
from hybridctl.versions import SUPPORTED_RANGE, WINDOWS_BUILDS, ContainerdVersion, KubeVersion

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_RELEASE = re.compile(r"\d+\.\d+(\.\d+)?", re.ASCII)
_EXACT_VERSION = re.compile(r"v?\d+\.\d+\.\d+", re.ASCII)
_IMAGE = re.compile(
    r"[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?", re.ASCII
)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_URL = re.compile(r"https?://[^\s'\"`$;\\]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SSH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")
_WINDOWS_USER_FORBIDDEN = re.compile(r'["/\[\]:;|=,+*?<>]')
WINDOWS_NAME_MAX = 15
SSH_USER_MAX = 256
PASSWORD_AUTHS = ("ntlm", "negotiate", "kerberos", "credssp", "basic")
SERVICE_PREFIX_MIN, SERVICE_PREFIX_MAX = 12, 28
NODE_MASK_MAX_DIFF = 16
WINRM_PORTS = {"https": 5986, "http": 5985}
Check = Callable[[Cluster], Iterator[Problem]]
Network = ipaddress.IPv4Network
_K8S: Path = ("spec", "kubernetes")
_HOSTS: Path = ("spec", "hosts")
_NAME_HINT = "use lowercase letters, digits and '-', at most 63 characters"
_QUALIFIED_HINT = "[prefix/]name: name of letters, digits, '-', '_', '.', at most 63 characters"
_VALUE_HINT = "at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
_CONTROL_HINT = "a stray newline often comes from a multi-line YAML string or an environment variable"


def check_cluster(cluster: Cluster) -> list[Problem]:
    """Every semantic problem of ``cluster``, errors and warnings."""
    return [problem for check in CHECKS for problem in check(cluster)]


# --- cluster-wide settings --------------------------------------------------------------------------


def check_metadata(cluster: Cluster) -> Iterator[Problem]:
    """The cluster name becomes a directory and a label: a lowercase RFC 1123 label."""
    if not _LABEL.fullmatch(cluster.name) or len(cluster.name) > 63:
        yield error(("metadata", "name"), f"{cluster.name!r} is not a lowercase RFC 1123 label", _NAME_HINT)


def check_version(cluster: Cluster) -> Iterator[Problem]:
    """An exact Kubernetes patch version inside the supported range."""
    path, text = (*_K8S, "version"), cluster.spec.kubernetes.version
    if not _EXACT_VERSION.fullmatch(text):
        yield error(
            path, f"{text!r} is not an exact Kubernetes version", "write the patch release, e.g. 1.34.2"
        )
    elif not (version := KubeVersion.parse(text)).supported:
        message = f"Kubernetes {version} is outside the supported range {SUPPORTED_RANGE}"
        yield error(path, message, f"pick a release from {SUPPORTED_RANGE}")


def check_kubernetes_names(cluster: Cluster) -> Iterator[Problem]:
    """DNS domain and certificate SANs are names the API server and CoreDNS can use."""
    k8s = cluster.spec.kubernetes
    if not _is_dns_name(k8s.dns_domain, lowercase=True):
        yield error(
            (*_K8S, "dnsDomain"), f"{k8s.dns_domain!r} is not a lowercase DNS domain", "e.g. cluster.local"
        )
    for index, san in enumerate(k8s.cert_sans):
        if not (_is_ip(san) or _is_dns_name(san.removeprefix("*."), lowercase=False)):
            message = f"{san!r} is neither an IP address nor a DNS name"
            yield error((*_K8S, "certSANs", index), message, "e.g. k8s-api.example.com or 10.0.0.100")


def _is_dns_name(text: str, *, lowercase: bool) -> bool:
    pattern = _SUBDOMAIN if lowercase else _HOSTNAME
    return len(text) <= 253 and bool(pattern.fullmatch(text)) and all(len(p) <= 63 for p in text.split("."))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_control_planes(cluster: Cluster) -> Iterator[Problem]:
    """At least one control plane, all of them Linux, and an endpoint when there are several."""
    planes = cluster.control_planes
    if cluster.hosts and not planes:
        yield error(_HOSTS, "no host has role: control-plane", "give one Linux host role: control-plane")
    for index, host in enumerate(cluster.hosts):
        if host.is_control_plane and host.is_windows:
            message = f"host {host.name!r}: the control plane must run on Linux"
            yield error(
                (*_HOSTS, index, "role"), message, "Windows hosts can only be workers: set role: worker"
            )
    # A Windows control plane is already an error; counting it again would only add noise.
    yield from _check_ha(cluster, len([h for h in planes if not h.is_windows]))


def _check_ha(cluster: Cluster, planes: int) -> Iterator[Problem]:
    endpoint = cluster.spec.kubernetes.control_plane_endpoint
    path = (*_K8S, "controlPlaneEndpoint")
    if planes > 1 and not endpoint:
        hint = "set it to a load balancer or VIP host:port"
        yield error(path, f"{planes} control-plane hosts need controlPlaneEndpoint", hint)
    if planes > 1 and planes % 2 == 0:
        message = f"{planes} control-plane hosts: etcd tolerates no more failures than with {planes - 1}"
        yield warning(_HOSTS, message, "use 3 or 5 control-plane hosts")
    if endpoint is not None and _split_endpoint(endpoint) is None:
        yield error(path, f"{endpoint!r} is not host[:port]", "e.g. k8s-api.example.com:6443")


def _split_endpoint(endpoint: str) -> tuple[str, int] | None:
    """``host[:port]`` as (host, port), or None when it is not one."""
    host, _, port = endpoint.partition(":") if endpoint.count(":") == 1 else (endpoint, "", "")
    if port and (not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536):
        return None
    if not (_is_ip(host) or _is_dns_name(host, lowercase=False)):
        return None
    return host, int(port or 6443)


# --- networks ---------------------------------------------------------------------------------------


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
    pod, found = _network((*_K8S, "podSubnet"), cluster.spec.kubernetes.pod_subnet)
    yield from found
    svc, found = _network((*_K8S, "serviceSubnet"), cluster.spec.kubernetes.service_subnet)
    yield from found
    if pod and svc and pod.overlaps(svc):
        hint = "choose disjoint ranges, e.g. pods 10.244.0.0/16 and services 10.96.0.0/12"
        yield error((*_K8S, "serviceSubnet"), f"service subnet {svc} overlaps pod subnet {pod}", hint)
    if pod:
        yield from _check_pod_capacity(cluster, pod)
    if svc:
        yield from _check_service_size(svc)
    yield from _check_addresses_outside(cluster, {"pod subnet": pod, "service subnet": svc})


def _check_addresses_outside(cluster: Cluster, nets: dict[str, Network | None]) -> Iterator[Problem]:
    for index, host in enumerate(cluster.hosts):
        yield from _outside((*_HOSTS, index, "address"), host.address, nets)
    endpoint = _split_endpoint(cluster.spec.kubernetes.control_plane_endpoint or "")
    if endpoint:
        yield from _outside((*_K8S, "controlPlaneEndpoint"), endpoint[0], nets)


def _check_pod_capacity(cluster: Cluster, pod: Network) -> Iterator[Problem]:
    mask, hosts = cluster.spec.kubernetes.node_cidr_mask_size, len(cluster.hosts)
    path = (*_K8S, "podSubnet")
    if mask < pod.prefixlen:
        yield error(path, f"pod subnet {pod} is smaller than one node's /{mask}", f"use a /{mask} or larger")
    elif mask - pod.prefixlen > NODE_MASK_MAX_DIFF:
        message = f"kube-controller-manager refuses node CIDRs (/{mask}) more than {NODE_MASK_MAX_DIFF} bits "
        hint = f"use nodeCidrMaskSize: {pod.prefixlen + NODE_MASK_MAX_DIFF} or less"
        yield error((*_K8S, "nodeCidrMaskSize"), message + f"smaller than the pod subnet {pod}", hint)
    elif (capacity := 2 ** (mask - pod.prefixlen)) < hosts:
        message = f"pod subnet {pod} holds {capacity} node CIDRs of /{mask} but there are {hosts} hosts"
        yield error(path, message, "use a larger pod subnet, e.g. a /16")


def _check_service_size(svc: Network) -> Iterator[Problem]:
    path = (*_K8S, "serviceSubnet")
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


# --- hosts ------------------------------------------------------------------------------------------


def check_hosts(cluster: Cluster) -> Iterator[Problem]:
    """Unique, valid names and addresses; exactly one connection block matching the OS."""
    if not cluster.hosts:
        yield error(_HOSTS, "the inventory lists no hosts", "add at least a control plane")
    yield from _duplicates(cluster, "name", lambda h: h.name)
    yield from _duplicates(cluster, "address", lambda h: h.address)
    for index, host in enumerate(cluster.hosts):
        path = (*_HOSTS, index)
        yield from _check_name((*path, "name"), host)
        yield from _check_address((*path, "address"), host.address)
        yield from _check_connection(path, host)
        yield from _check_windows_fields(path, host)


def _duplicates(cluster: Cluster, field: str, key: Callable[[Host], str]) -> Iterator[Problem]:
    seen: dict[str, Host] = {}
    for index, host in enumerate(cluster.hosts):
        value = key(host)
        if value in seen:
            other = "an earlier host" if field == "name" else f"host {seen[value].name!r}"
            message = f"host {field} {value!r} is already used by {other}"
            yield error((*_HOSTS, index, field), message, f"every host needs its own {field}")
        elif value:
            seen[value] = host


def _check_name(path: Path, host: Host) -> Iterator[Problem]:
    if host.is_windows and (reason := _windows_name_problem(host.name)):
        hint = (
            f"rename the computer: lowercase letters, digits and '-', at most {WINDOWS_NAME_MAX} characters"
        )
        yield error(path, f"Windows node name {host.name!r} {reason}", hint)
    elif not host.is_windows and not _is_dns_name(host.name, lowercase=True):
        message = f"node name {host.name!r} is not a lowercase RFC 1123 name"
        yield error(path, message, "use lowercase letters, digits, '-' and '.'")


def _windows_name_problem(name: str) -> str | None:
    if len(name) > WINDOWS_NAME_MAX:
        return f"is longer than {WINDOWS_NAME_MAX} characters (the NetBIOS limit)"
    if not _LABEL.fullmatch(name):
        return "is not a lowercase RFC 1123 label (lowercase letters, digits and '-')"
    if name.isdigit():
        return "cannot be only digits"
    return None


def _check_address(path: Path, text: str) -> Iterator[Problem]:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        yield error(
            path, f"{text!r} is not an IP address", "routes need the node's IPv4 address, not a DNS name"
        )
        return
    if address.version != 4:
        yield error(path, f"{address} is IPv6; only IPv4 is supported", "use the host's IPv4 address")
    elif address.is_loopback or address.is_unspecified or address.is_multicast or address.is_reserved:
        yield error(path, f"{address} cannot be a node address", hint="use the address other nodes reach")
    elif address.is_link_local:
        yield error(path, f"{address} is link-local", hint="give the host a routable address")


def _check_connection(path: Path, host: Host) -> Iterator[Problem]:
    if (host.ssh is None) == (host.winrm is None):
        which = "both ssh and winrm" if host.ssh else "neither ssh nor winrm"
        where = path if host.ssh is None else (*path, "winrm")
        hint = "Linux hosts use an ssh: block, Windows hosts a winrm: block"
        yield error(where, f"host {host.name!r} has {which}: it needs exactly one", hint)
    elif host.is_windows and host.ssh is not None:
        yield error((*path, "ssh"), f"Windows host {host.name!r} is reached over WinRM", "use a winrm: block")
    elif not host.is_windows and host.winrm is not None:
        yield error((*path, "winrm"), f"Linux host {host.name!r} is reached over SSH", "use an ssh: block")
    if host.ssh is not None:
        yield from check_ssh((*path, "ssh"), host.ssh, host.address)
    if host.winrm is not None:
        yield from check_winrm((*path, "winrm"), host.winrm)


def check_ssh(path: Path, ssh: SSHConnection, address: str) -> Iterator[Problem]:
    """User, key file and bastion of an SSH block."""
    yield from _check_ssh_login(path, ssh)
    if not ssh.uses_sudo and ssh.user != "root":
        message = "sudo: false with a user other than root: installing Kubernetes needs root"
        yield warning((*path, "sudo"), message, "set sudo: true (passwordless sudo) or connect as root")
    if ssh.bastion is not None:
        yield from _check_bastion((*path, "bastion"), ssh.bastion, address)


def _check_ssh_login(path: Path, login: SSHConnection | Bastion) -> Iterator[Problem]:
    yield from _check_ssh_user((*path, "user"), login.user)
    if login.private_key_file is not None:
        yield from _check_text((*path, "privateKeyFile"), login.private_key_file, "privateKeyFile")
    if login.passphrase is not None and login.private_key_file is None:
        yield error(
            (*path, "passphrase"), "passphrase without privateKeyFile", "give the key file it unlocks"
        )


def _check_ssh_user(path: Path, user: str) -> Iterator[Problem]:
    if not _SSH_USER.fullmatch(user) or len(user) > SSH_USER_MAX:
        message = "the SSH user name may contain only letters, digits, '_', '.', '@' and '-'"
        yield error(path, message, "quotes, spaces, '$', ';', backticks and control characters are refused")


def _check_bastion(path: Path, bastion: Bastion, address: str) -> Iterator[Problem]:
    yield from _check_ssh_login(path, bastion)
    if not (_is_ip(bastion.address) or _is_dns_name(bastion.address, lowercase=False)):
        message = f"bastion address {bastion.address!r} is neither an IP address nor a DNS name"
        yield error((*path, "address"), message, "e.g. 172.20.0.5 or jump.example.com")
    elif bastion.address == address:
        yield warning((*path, "address"), "the bastion is the host itself", "leave out the bastion block")


def check_winrm(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    """Transport security, credentials and timeouts of a WinRM block."""
    yield from _check_winrm_security(path, winrm)
    yield from _check_winrm_credentials(path, winrm)
    for key, value in _winrm_files(winrm).items():
        if value is not None:
            yield from _check_text((*path, key), value, key)
    if winrm.read_timeout <= winrm.operation_timeout:
        message = "readTimeout must be larger than operationTimeout"
        yield error((*path, "readTimeout"), message, f"e.g. readTimeout: {winrm.operation_timeout + 10}")


def _winrm_files(winrm: WinRMConnection) -> dict[str, str | None]:
    return {
        "caBundle": winrm.ca_bundle,
        "certificateFile": winrm.certificate_file,
        "certificateKeyFile": winrm.certificate_key_file,
    }


def _check_winrm_security(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    if winrm.auth == "basic" and winrm.scheme == "http":
        message = "basic auth over plain http is refused: the password would travel in clear"
        hint = "use scheme: https, or auth: ntlm/negotiate/kerberos (message encryption)"
        yield error((*path, "auth"), message, hint)
    if not winrm.verify_certificate and not winrm.insecure:
        message = "certificate validation is turned off without insecure: true"
        hint = "give caBundle instead, or set insecure: true if you accept the risk"
        yield error((*path, "verifyCertificate"), message, hint)
    if winrm.ca_bundle is not None and (winrm.scheme == "http" or not winrm.verify_certificate):
        yield warning(
            (*path, "caBundle"), "caBundle is ignored: certificates are not checked here", "use scheme: https"
        )
    yield from _check_winrm_port(path, winrm)


def _check_winrm_port(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    other = "http" if winrm.scheme == "https" else "https"
    if winrm.port == WINRM_PORTS[other]:
        message = f"port {winrm.port} is WinRM's {other} port but scheme is {winrm.scheme}"
        yield warning((*path, "port"), message, f"use port {WINRM_PORTS[winrm.scheme]} or scheme: {other}")


def _check_winrm_credentials(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    if winrm.auth == "certificate":
        yield from _check_certificate_auth(path, winrm)
        return
    if winrm.user is None:
        yield error((*path, "user"), f"auth {winrm.auth} needs a user", "e.g. user: Administrator")
    else:
        yield from _check_windows_user((*path, "user"), winrm.user)
    hint = "e.g. password: ${env:WINRM_PASSWORD}"
    if winrm.password is None:
        yield error((*path, "password"), f"auth {winrm.auth} needs a password", hint)
    elif not winrm.password.get_secret_value():
        yield error((*path, "password"), "the password is empty", hint)


def _check_windows_user(path: Path, user: str) -> Iterator[Problem]:
    forbidden = _CONTROL.search(user) or _WINDOWS_USER_FORBIDDEN.search(user) or user.count("\\") > 1
    if forbidden or not user.strip() or user != user.strip():
        hint = 'write user, DOMAIN\\user or user@domain, without control characters or "/[]:;|=,+*?<>'
        yield error(path, "the WinRM user name is not a Windows account name", hint)


def _check_certificate_auth(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    if winrm.scheme != "https":
        yield error((*path, "scheme"), "certificate auth works over https only", "set scheme: https")
    for key in ("certificateFile", "certificateKeyFile"):
        if _winrm_files(winrm)[key] is None:
            yield error((*path, key), f"auth certificate needs {key}", "give the PEM file")


def _check_text(path: Path, value: str, what: str) -> Iterator[Problem]:
    """A file path or name that is data: anything printable, but not blank and no control characters."""
    if not value.strip():
        yield error(path, f"{what} is empty", "give a value or leave the key out")
    elif _CONTROL.search(value):
        yield error(path, f"{what} contains a control character (newline, tab, ...)", _CONTROL_HINT)


def _check_windows_fields(path: Path, host: Host) -> Iterator[Problem]:
    version = host.windows_version
    if version is not None and not host.is_windows:
        yield error(
            (*path, "windowsVersion"),
            f"Linux host {host.name!r} has a windowsVersion",
            "remove it, or set os: windows",
        )
    elif version is not None and version not in WINDOWS_BUILDS:
        supported = "supported: " + ", ".join(str(v) for v in WINDOWS_BUILDS)
        yield error((*path, "windowsVersion"), f"Windows Server {version} is not supported", supported)
    if host.interface is not None:
        yield from _check_text((*path, "interface"), host.interface, "the network adapter name")
        if host.interface != host.interface.strip():
            yield error(
                (*path, "interface"),
                "the network adapter name starts or ends with a space",
                "e.g. 'Ethernet 2'",
            )


# --- labels and taints ------------------------------------------------------------------------------


def check_labels_and_taints(cluster: Cluster) -> Iterator[Problem]:
    """Kubernetes label and taint syntax; no taint twice."""
    for index, host in enumerate(cluster.hosts):
        for key, value in host.labels.items():
            yield from _check_label((*_HOSTS, index, "labels", key), key, value)
        yield from _check_taints((*_HOSTS, index, "taints"), host)


def _check_taints(path: Path, host: Host) -> Iterator[Problem]:
    seen: set[tuple[str, str]] = set()
    for t_index, taint in enumerate(host.taints):
        where = (*path, t_index)
        if not _valid_qualified_name(taint.key):
            yield error(
                (*where, "key"), f"taint key {taint.key!r} is not a valid qualified name", _QUALIFIED_HINT
            )
        if not _valid_label_value(taint.value):
            yield error(
                (*where, "value"), f"taint value {taint.value!r} is not a valid label value", _VALUE_HINT
            )
        if (taint.key, taint.effect) in seen:
            yield error(where, f"taint {taint.key}:{taint.effect} is listed twice", "keep one of them")
        seen.add((taint.key, taint.effect))


def _check_label(path: Path, key: str, value: str) -> Iterator[Problem]:
    if not _valid_qualified_name(key):
        yield error(path, f"label key {key!r} is not a valid qualified name", _QUALIFIED_HINT)
    if not _valid_label_value(value):
        yield error(path, f"label value {value!r} is not valid", _VALUE_HINT)


def _valid_qualified_name(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and not _is_dns_name(prefix, lowercase=True):
        return False
    return bool(name) and len(name) <= 63 and bool(_LABEL_NAME.fullmatch(name))


def _valid_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_NAME.fullmatch(value))


# --- Windows features and software ------------------------------------------------------------------


def check_windows_features(cluster: Cluster) -> Iterator[Problem]:
    """Windows features that need something from the host (warnings), and the isolation list."""
    for index, host in enumerate(cluster.hosts):
        if host.is_windows and host.windows_version == 2019 and cluster.spec.network.mode == "vxlan":
            message = f"vxlan on Windows Server 2019 ({host.name}) needs KB4489899"
            hint = "preflight checks the hotfix; install the latest cumulative update"
            yield warning((*_HOSTS, index, "windowsVersion"), message, hint)
    yield from _check_isolation(cluster)


def _check_isolation(cluster: Cluster) -> Iterator[Problem]:
    path, isolation = ("spec", "windows", "isolation"), cluster.spec.windows.isolation
    if "hyperv" in isolation and cluster.windows_hosts:
        message = "hyperv isolation needs the Hyper-V feature and CPU virtualisation (nested in VMs)"
        yield warning(path, message, "preflight checks it on every Windows host before anything changes")
    if "process" not in isolation:
        message = "process isolation is the default runtime and cannot be removed"
        yield error(path, message, "list process, optionally with hyperv")


def check_software(cluster: Cluster) -> Iterator[Problem]:
    """containerd version, pause image and artifact source."""
    path, text = ("spec", "containerd", "version"), cluster.spec.containerd.version
    # No leading 'v' here: the release URLs put their own 'v' in front of the version.
    if not _RELEASE.fullmatch(text) or text.count(".") != 2:
        yield error(path, f"{text!r} is not an exact containerd version", "e.g. 2.1.4, without a 'v'")
    elif not (1, 7) <= ((version := ContainerdVersion.parse(text)).major, version.minor) < (3, 0):
        yield error(path, f"containerd {version} is not supported", "use 1.7.x or 2.x, e.g. 2.1.4")
    yield from _check_pause(cluster)
    yield from _check_artifacts(cluster)


def _check_pause(cluster: Cluster) -> Iterator[Problem]:
    image = cluster.spec.containerd.pause_image
    path = ("spec", "containerd", "pauseImage")
    if not _IMAGE.fullmatch(image):
        yield error(path, f"{image!r} is not an image reference", "e.g. registry.k8s.io/pause:3.10.2")
        return
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
    has_2025 = any(h.windows_version == 2025 for h in cluster.windows_hosts)
    if has_2025 and image.startswith("registry.k8s.io/pause:") and _older(tag, (3, 10, 2)):
        yield error(path, f"{image} has no Windows Server 2025 manifest", "use registry.k8s.io/pause:3.10.2")


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
            (*path, "source"), "source: mirror needs mirrorUrl", "mirrorUrl: https://mirror.example/k8s"
        )
    if art.mirror_url is not None and not _URL.fullmatch(art.mirror_url):
        yield error(
            (*path, "mirrorUrl"),
            f"{art.mirror_url!r} is not an http(s) URL",
            "e.g. https://mirror.example/k8s",
        )
    if art.mirror_url is not None and art.source != "mirror":
        yield warning(
            (*path, "mirrorUrl"), "mirrorUrl is ignored unless source: mirror", "set source: mirror"
        )
    if art.cache_dir is not None:
        yield from _check_text((*path, "cacheDir"), art.cache_dir, "cacheDir")
    for key, value in art.model_dump(by_alias=True).items():
        if key.endswith("Version") and not _RELEASE.fullmatch(value):
            yield error((*path, key), f"{value!r} is not a release version", "e.g. 1.6.2, without a 'v'")
    yield from _check_checksums(cluster)


def _check_checksums(cluster: Cluster) -> Iterator[Problem]:
    known = _artifact_names(cluster)
    for name, value in cluster.spec.artifacts.checksums.items():
        path = ("spec", "artifacts", "checksums", name)
        if not _SHA256.fullmatch(value):
            message = f"the pinned checksum of {name!r} is not a sha256 (64 hex digits)"
            yield error(path, message, "pin the output of sha256sum on a trusted copy")
        if known and name not in known:
            close = closest(name, sorted(known))
            hint = f"did you mean '{close}'?" if close else "known: " + ", ".join(sorted(known))
            yield warning(path, f"hybridctl downloads no artifact called {name!r}: this pin is unused", hint)


def _artifact_names(cluster: Cluster) -> set[str]:
    """Names ``checksums`` may pin; empty when the Kubernetes version is too broken to build the catalog."""
    if not _EXACT_VERSION.fullmatch(cluster.spec.kubernetes.version):
        return set()
    catalog = Catalog(cluster)
    return {a.name for a in catalog.linux_artifacts() + catalog.windows_artifacts()}


CHECKS: tuple[Check, ...] = (
    check_metadata,
    check_version,
    check_kubernetes_names,
    check_control_planes,
    check_subnets,
    check_hosts,
    check_labels_and_taints,
    check_windows_features,
    check_software,
)
