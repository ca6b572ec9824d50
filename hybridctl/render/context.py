"""The one function that builds a template context: cluster facts, the host, its routes and secrets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybridctl.errors import RenderError
from hybridctl.inventory import Cluster, Host
from hybridctl.render import network
from hybridctl.render.labels import split_labels
from hybridctl.render.placeholders import placeholder
from hybridctl.render.registries import config_path
from hybridctl.render.values import RuntimeValues
from hybridctl.versions import WINDOWS_BUILDS, ContainerdVersion, KubeVersion

BRIDGE_NETWORK = "cbr0"
BRIDGE_ENDPOINT = "cbr0_ep"
VXLAN_VNI = 4096
VXLAN_PORT = 4789
FLANNEL_NETWORK = f"flannel.{VXLAN_VNI}"
WINDOWS_TAINT = {"key": "os", "value": "windows", "effect": "NoSchedule"}
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "value": "", "effect": "NoSchedule"}


@dataclass(frozen=True)
class ClusterView:
    """Cluster-wide facts every template may use."""

    name: str
    version: KubeVersion
    kubeadm_api: str
    pod_subnet: str
    service_subnet: str
    dns_domain: str
    cluster_dns: str
    endpoint: str
    api_server: str
    vxlan: bool
    network_name: str
    pause_image: str
    image_repository: str | None
    containerd: ContainerdVersion
    hyperv: bool
    several_control_planes: bool
    cert_sans: tuple[str, ...]
    controller_manager_args: tuple[tuple[str, str], ...]
    node_addresses: tuple[str, ...]
    allow_cgroup_v1: bool
    restrict_oom_score_adj: bool


@dataclass(frozen=True)
class HostView:
    """The host being rendered."""

    name: str
    address: str
    is_control_plane: bool
    is_first_control_plane: bool
    adapter: str
    interface_alias: str
    pod_cidr: str
    pod_gateway: str
    bridge_endpoint_ip: str
    node_labels: str
    kubeadm_taints: tuple[dict[str, str], ...] | None
    register_taints: tuple[dict[str, str], ...]
    kubelet_extra_args: tuple[tuple[str, str], ...]
    windows_build: str
    source_vip: str
    registry_config_path: str


@dataclass(frozen=True)
class Secrets:
    """Credentials and CA material, or their placeholders."""

    bootstrap_token: str
    ca_cert_hash: str
    ca_certificate: str
    kube_proxy_token: str
    flannel_token: str
    certificate_key: str


def build_context(cluster: Cluster, values: RuntimeValues, host: Host | None = None) -> dict[str, Any]:
    """Everything a template sees; ``host`` None for cluster objects."""
    context: dict[str, Any] = {
        "cluster": _cluster_view(cluster),
        "secrets": _secrets(values),
        "vxlan_vni": VXLAN_VNI,
        "vxlan_port": VXLAN_PORT,
    }
    if host is not None:
        context["host"] = _host_view(cluster, values, host)
        context["routes"] = network.routes_for(cluster, values, host)
        context["route_proto"] = network.LINUX_ROUTE_PROTO
        context["route_metric"] = network.ROUTE_METRIC
    return context


def _cluster_view(cluster: Cluster) -> ClusterView:
    k8s = cluster.spec.kubernetes
    version = KubeVersion.parse(k8s.version)
    vxlan = cluster.spec.network.mode == "vxlan"
    return ClusterView(
        name=cluster.name,
        version=version,
        kubeadm_api=version.kubeadm_api,
        pod_subnet=k8s.pod_subnet,
        service_subnet=k8s.service_subnet,
        dns_domain=k8s.dns_domain,
        cluster_dns=network.cluster_dns(cluster),
        endpoint="{}:{}".format(*network.api_endpoint(cluster)),
        api_server=network.api_server_url(cluster),
        vxlan=vxlan,
        network_name=FLANNEL_NETWORK if vxlan else BRIDGE_NETWORK,
        pause_image=cluster.pause_image,
        image_repository=k8s.image_repository,
        containerd=cluster.containerd,
        hyperv="hyperv" in cluster.spec.windows.isolation,
        several_control_planes=len(cluster.control_planes) > 1,
        cert_sans=_cert_sans(cluster),
        controller_manager_args=_controller_manager_args(cluster),
        node_addresses=tuple(h.address for h in cluster.hosts),
        allow_cgroup_v1=k8s.allow_cgroup_v1,
        restrict_oom_score_adj=cluster.spec.containerd.restrict_oom_score_adj,
    )


def _cert_sans(cluster: Cluster) -> tuple[str, ...]:
    names = [h.address for h in cluster.control_planes]
    names.append(network.api_endpoint(cluster)[0].strip("[]"))
    names += cluster.spec.kubernetes.cert_sans
    return tuple(dict.fromkeys(names))


def _controller_manager_args(cluster: Cluster) -> tuple[tuple[str, str], ...]:
    mask = cluster.spec.kubernetes.node_cidr_mask_size
    return (("node-cidr-mask-size", str(mask)),) if mask != 24 else ()


def _host_view(cluster: Cluster, values: RuntimeValues, host: Host) -> HostView:
    cidr = network.pod_cidr(values, host)
    own_labels, _ = split_labels(host.labels)
    node_labels = ",".join(f"{k}={v}" for k, v in own_labels.items())
    return HostView(
        name=host.name,
        address=host.address,
        is_control_plane=host.is_control_plane,
        is_first_control_plane=host == cluster.first_control_plane,
        adapter=host.adapter,
        interface_alias=f"vEthernet ({host.adapter})",
        pod_cidr=cidr,
        pod_gateway=network.nth_address(cidr, 1),
        bridge_endpoint_ip=network.nth_address(cidr, 2),
        node_labels=node_labels,
        kubeadm_taints=_unique_or_none(_kubeadm_taints(host)),
        register_taints=_unique((WINDOWS_TAINT, *_taints(host))),
        kubelet_extra_args=_kubelet_extra_args(host, node_labels),
        windows_build=windows_build(host, values) if host.is_windows else "",
        source_vip=values.source_vips.get(host.name) or placeholder(f"source-vip/{host.name}"),
        registry_config_path=config_path(host) if cluster.spec.containerd.registries else "",
    )


def _unique(taints: tuple[dict[str, str], ...]) -> tuple[dict[str, str], ...]:
    """Taints without repeats (the kubelet refuses two taints with the same key and effect)."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for taint in taints:
        seen.setdefault((taint["key"], taint["effect"]), taint)
    return tuple(seen.values())


def _unique_or_none(taints: tuple[dict[str, str], ...] | None) -> tuple[dict[str, str], ...] | None:
    return None if taints is None else _unique(taints)


def _taints(host: Host) -> tuple[dict[str, str], ...]:
    return tuple({"key": t.key, "value": t.value, "effect": t.effect} for t in host.taints)


def _kubeadm_taints(host: Host) -> tuple[dict[str, str], ...] | None:
    """None keeps kubeadm's default taints; a control plane keeps its own taint next to the host's."""
    if not host.taints:
        return None
    return (CONTROL_PLANE_TAINT, *_taints(host)) if host.is_control_plane else _taints(host)


def _kubelet_extra_args(host: Host, node_labels: str) -> tuple[tuple[str, str], ...]:
    args = [("node-ip", host.address)]
    if node_labels:
        args.append(("node-labels", node_labels))
    return tuple(args)


def _secrets(values: RuntimeValues) -> Secrets:
    def get(attr: str, name: str) -> str:
        return values.secret(attr) or placeholder(name)

    return Secrets(
        bootstrap_token=get("bootstrap_token", "bootstrap-token"),
        ca_cert_hash=get("ca_cert_hash", "ca-cert-hash"),
        ca_certificate=get("ca_certificate", "ca-certificate"),
        kube_proxy_token=get("kube_proxy_token", "kube-proxy-token"),
        flannel_token=get("flannel_token", "flannel-token"),
        certificate_key=get("certificate_key", "certificate-key"),
    )


def windows_build(host: Host, values: RuntimeValues) -> str:
    """The windows-build label of ``host``: windowsVersion, else the runtime values, else a placeholder."""
    found = values.windows_builds.get(host.name)
    if host.windows_version is None:
        return found or placeholder(f"windows-build/{host.name}")
    stated = WINDOWS_BUILDS.get(host.windows_version)
    if stated is None:
        raise RenderError(f"host {host.name!r}: Windows Server {host.windows_version} is not supported")
    if found and found != stated:
        raise RenderError(
            f"host {host.name!r}: windowsVersion {host.windows_version} means build {stated}, "
            f"but the runtime values say {found}"
        )
    return stated
