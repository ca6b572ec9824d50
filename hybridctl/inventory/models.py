"""Pydantic models of inventory format v1 (``apiVersion: hybridctl.io/v1alpha1``, ``kind: Cluster``).

The models are frozen and strict: unknown keys are errors. YAML keys are camelCase; Python attributes are
snake_case. Semantic rules that need the whole file (overlaps, duplicates, version ranges) live in
``hybridctl.inventory.checks`` so that every problem is reported in one run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from hybridctl.versions import (
    DEFAULT_IMAGE_REPOSITORY,
    DEFAULT_VERSION,
    PAUSE_TAG,
    ContainerdVersion,
    KubeVersion,
    Release,
)

API_VERSION = "hybridctl.io/v1alpha1"
KIND = "Cluster"

Role = Literal["control-plane", "worker"]
OSName = Literal["linux", "windows"]
NetworkMode = Literal["routes", "vxlan"]
Isolation = Literal["process", "hyperv"]
WinRMAuth = Literal["ntlm", "negotiate", "kerberos", "credssp", "basic", "certificate"]
SpnService = Literal["HTTP", "WSMAN"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
Capability = Literal["pull", "resolve", "push"]


class Model(BaseModel):
    """Base of every inventory model: frozen, camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
    )


class Metadata(Model):
    """Cluster identity."""

    name: str = Field(description="Cluster name; also the state directory name (lowercase RFC 1123 label).")


class KubernetesSpec(Model):
    """Kubernetes version and the kubeadm networking settings."""

    version: str = Field(
        DEFAULT_VERSION,
        description=f"Exact Kubernetes patch version; default {DEFAULT_VERSION}, the newest hybridctl knows.",
    )
    control_plane_endpoint: str | None = Field(
        None, description="host[:port] of the API endpoint; required with more than one control-plane node."
    )
    pod_subnet: str = Field(
        "10.244.0.0/16", description="Cluster pod CIDR (kube-controller-manager --cluster-cidr)."
    )
    service_subnet: str = Field("10.96.0.0/12", description="Service CIDR.")
    dns_domain: str = Field("cluster.local", description="Cluster DNS domain.")
    node_cidr_mask_size: int = Field(24, ge=8, le=30, description="Size of each node's pod CIDR.")
    cert_sans: list[str] = Field(
        default_factory=list, alias="certSANs", description="Extra API server certificate SANs."
    )
    allow_cgroup_v1: bool = Field(
        False,
        description="Let the kubelet run on Linux hosts with cgroup v1 or hybrid cgroups (failCgroupV1: "
        "false). Upstream refuses such hosts by default since 1.35 and will remove the support; preflight "
        "refuses them unless this is true.",
    )
    image_repository: str | None = Field(
        None,
        description="Registry (host[:port][/path], no scheme or tag) kubeadm pulls the control-plane, "
        "etcd, CoreDNS and pause images from (ClusterConfiguration imageRepository), also the default "
        f"sandbox image <imageRepository>/pause:{PAUSE_TAG}; default {DEFAULT_IMAGE_REPOSITORY}.",
    )


class NetworkSpec(Model):
    """Pod network between nodes."""

    mode: NetworkMode = Field("routes", description="routes (L2 static routes, default) or vxlan (flannel).")


class RegistryMirror(Model):
    """A host containerd tries before the registry's server (a ``[host."<url>"]`` table of hosts.toml)."""

    url: str = Field(description="http:// or https:// URL of the mirror (http: plain HTTP).")
    capabilities: list[Capability] = Field(
        default_factory=lambda: list[Capability](["pull", "resolve"]),
        description="What the mirror is trusted with: pull, resolve (tag to digest), push.",
    )
    skip_verify: bool = Field(False, description="Do not verify the mirror's TLS certificate.")
    ca_certificate: str | None = Field(
        None, description="PEM CA certificate(s) that sign the mirror's certificate (e.g. ${env:MIRROR_CA})."
    )


class Registry(Model):
    """containerd's settings for one registry host namespace: a hosts.toml under its config_path."""

    host: str = Field(
        description="Registry host as image names spell it (docker.io, registry.k8s.io, 10.0.0.5:5000) "
        "or _default (every registry without its own entry)."
    )
    server: str | None = Field(
        None,
        description="http(s) URL used after the mirrors; default https://<host>. http:// = plain HTTP.",
    )
    capabilities: list[Capability] = Field(
        default_factory=lambda: list[Capability](["pull", "resolve", "push"]),
        description="What the server is trusted with.",
    )
    skip_verify: bool = Field(False, description="Do not verify the server's TLS certificate.")
    ca_certificate: str | None = Field(None, description="PEM CA certificate(s) of the server.")
    mirrors: list[RegistryMirror] = Field(default_factory=list, description="Tried in order, then server.")


class ContainerdSpec(Model):
    """containerd on every node."""

    version: str | None = Field(
        None,
        description="containerd release installed on Linux and Windows nodes; default: the newest patch "
        "of the newest containerd line recommended for the cluster's Kubernetes minor.",
    )
    # PAUSE_TAG for every minor (see hybridctl.versions): one tag serves every Windows build.
    pause_image: str = Field(
        f"{DEFAULT_IMAGE_REPOSITORY}/pause:{PAUSE_TAG}",
        description="Pinned sandbox image; its manifest list must cover every Windows build in the cluster. "
        f"Default <spec.kubernetes.imageRepository>/pause:{PAUSE_TAG} when imageRepository is set.",
    )
    registries: list[Registry] = Field(
        default_factory=list,
        description="Registry hosts, mirrors, plain-HTTP and private-CA registries: rendered as containerd "
        "hosts.toml files under the CRI registry config_path on every node.",
    )
    restrict_oom_score_adj: bool = Field(
        False,
        description="Linux nodes whose containerd may not lower OOM score adjustments (no CAP_SYS_RESOURCE: "
        "nodes in containers, user namespaces or sandboxed VMs): containerd then raises every pod's "
        "oom_score_adj to at least its own (restrict_oom_score_adj), instead of runc failing to start any "
        "pod with 'failed to update /proc/self/oom_score_adj: Permission denied'.",
    )


class ArtifactsSpec(Model):
    """Where nodes download binaries from."""

    source: Literal["upstream", "mirror"] = Field(
        "upstream", description="upstream release URLs or a mirror."
    )
    mirror_url: str | None = Field(None, description="Base URL of a mirror with the upstream path layout.")
    cache_dir: str | None = Field(
        None, description="Local directory: download each artifact once here and push it to the nodes."
    )
    cni_plugins_version: str = Field("1.6.2", description="containernetworking/plugins release.")
    windows_cni_version: str = Field("0.3.1", description="microsoft/windows-container-networking release.")
    runc_version: str = Field("1.2.6", description="runc release for Linux nodes.")
    crictl_version: str | None = Field(
        None, description="cri-tools release; default: the one of the cluster's Kubernetes minor."
    )
    nssm_version: str = Field(
        "2.24", description="nssm, the Windows service wrapper for kubelet and kube-proxy."
    )
    checksums: dict[str, str] = Field(
        default_factory=dict,
        description="Pinned sha256 per artifact name; needed where upstream publishes no checksum.",
    )


class WindowsSpec(Model):
    """Cluster-wide Windows settings."""

    isolation: list[Isolation] = Field(
        default_factory=lambda: list[Isolation](["process"]),
        description="Isolation classes offered: process, hyperv.",
    )


class SmokeSpec(Model):
    """What ``hybridctl smoke`` runs its test workloads with."""

    image: str | None = Field(
        None,
        description="Test image of hybridctl smoke (Linux and Windows variants of Kubernetes' e2e agnhost): "
        "registry/path[:tag][@sha256:digest]; default registry.k8s.io/e2e-test-images/agnhost:2.63.0 pinned "
        "by its promoted digest (the same path and digest under spec.kubernetes.imageRepository when that "
        "is set).",
    )
    pre_pull: bool = Field(
        False,
        description="Have every node pull the smoke image in the background during up, right after "
        "containerd starts, so that the pull overlaps with the rest of up instead of delaying the smoke "
        "checks (the Windows image is large).",
    )


class Taint(Model):
    """A node taint."""

    key: str
    value: str = ""
    effect: TaintEffect = "NoSchedule"


class Bastion(Model):
    """SSH jump host."""

    address: str
    port: int = Field(22, ge=1, le=65535)
    user: str = "root"
    private_key_file: str | None = None
    passphrase: SecretStr | None = None
    agent: bool = False
    password: SecretStr | None = None


class SSHConnection(Model):
    """How to reach a Linux host."""

    user: str = "root"
    port: int = Field(22, ge=1, le=65535)
    private_key_file: str | None = Field(None, description="Private key file (may be passphrase-protected).")
    passphrase: SecretStr | None = Field(None, description="Passphrase of private_key_file.")
    agent: bool = Field(False, description="Use keys from the SSH agent ($SSH_AUTH_SOCK).")
    password: SecretStr | None = None
    sudo: bool | None = Field(
        None, description="Run commands through 'sudo -n'; default: when user is not root."
    )
    bastion: Bastion | None = None

    @property
    def uses_sudo(self) -> bool:
        """Whether commands are wrapped in ``sudo -n --``."""
        return self.sudo if self.sudo is not None else self.user != "root"


class WinRMConnection(Model):
    """How to reach a Windows host."""

    user: str | None = Field(None, description="Account; user@REALM for auth: kerberos.")
    password: SecretStr | None = Field(
        None, description="Password; for kerberos optional (without it the existing ticket is used)."
    )
    hostname: str | None = Field(
        None,
        description="The host's DNS name (FQDN): the TLS certificate is checked against it and the Kerberos "
        "SPN is <spnService>/<hostname>. hybridctl still connects to the node's address.",
    )
    spn_service: SpnService = Field(
        "HTTP", description="Service class of the Kerberos SPN: HTTP (Windows' default) or WSMAN."
    )
    scheme: Literal["https", "http"] = "https"
    port: int | None = Field(None, ge=1, le=65535, description="Default 5986 for https, 5985 for http.")
    auth: WinRMAuth = "negotiate"
    ca_bundle: str | None = Field(None, description="PEM file of CAs that may sign the host's certificate.")
    verify_certificate: bool = Field(True, description="Turning this off also needs insecure: true.")
    insecure: bool = False
    certificate_file: str | None = Field(None, description="Client certificate (auth: certificate).")
    certificate_key_file: str | None = Field(None, description="Client certificate key (auth: certificate).")
    operation_timeout: int = Field(20, ge=1, description="WS-Management OperationTimeout, seconds.")
    read_timeout: int = Field(
        30, ge=1, description="HTTP read timeout, seconds; must exceed operation_timeout."
    )

    @property
    def effective_port(self) -> int:
        """The port, defaulted by scheme."""
        if self.port is not None:
            return self.port
        return 5986 if self.scheme == "https" else 5985

    @property
    def realm(self) -> str | None:
        """The Kerberos realm of ``user@REALM``; None when ``user`` has no usable realm part."""
        name, at, realm = (self.user or "").rpartition("@")
        return realm if at and name and realm and realm.strip() == realm and " " not in realm else None


class Host(Model):
    """A machine of the cluster."""

    name: str = Field(description="Node name (lowercase RFC 1123; 15 characters at most on Windows).")
    address: str = Field(description="IPv4 address other nodes and hybridctl reach the host on.")
    role: Role
    os: OSName
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    ssh: SSHConnection | None = None
    winrm: WinRMConnection | None = None
    windows_version: int | None = Field(
        None, description="Expected Windows Server version: 2019, 2022 or 2025."
    )
    interface: str | None = Field(
        None, description="Windows: network adapter that carries node traffic (default 'Ethernet')."
    )

    @property
    def is_windows(self) -> bool:
        """True for Windows hosts."""
        return self.os == "windows"

    @property
    def is_control_plane(self) -> bool:
        """True for control-plane hosts."""
        return self.role == "control-plane"

    @property
    def adapter(self) -> str:
        """The Windows network adapter name."""
        return self.interface or "Ethernet"


class ClusterSpec(Model):
    """Everything about the cluster."""

    kubernetes: KubernetesSpec
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    containerd: ContainerdSpec = Field(default_factory=ContainerdSpec)
    artifacts: ArtifactsSpec = Field(default_factory=ArtifactsSpec)
    windows: WindowsSpec = Field(default_factory=WindowsSpec)
    smoke: SmokeSpec = Field(default_factory=SmokeSpec)
    hosts: list[Host]


class Cluster(Model):
    """An inventory file."""

    api_version: Literal["hybridctl.io/v1alpha1"]
    kind: Literal["Cluster"]
    metadata: Metadata
    spec: ClusterSpec

    @property
    def name(self) -> str:
        """The cluster name."""
        return self.metadata.name

    @property
    def release(self) -> Release:
        """The version table's row for this cluster's Kubernetes minor (the newest row if it has none)."""
        try:
            return KubeVersion.parse(self.spec.kubernetes.version).release
        except ValueError:
            return KubeVersion.parse(DEFAULT_VERSION).release

    @property
    def containerd_version(self) -> str:
        """The containerd release to install: the inventory's, else the table's default for the minor."""
        return self.spec.containerd.version or self.release.containerd_default

    @property
    def containerd(self) -> ContainerdVersion:
        """``containerd_version`` parsed; ValueError when the inventory's text is not a version."""
        return ContainerdVersion.parse(self.containerd_version)

    @property
    def pause_image(self) -> str:
        """The sandbox image: ``pauseImage`` when given, else ``pause:PAUSE_TAG`` under imageRepository."""
        containerd, repository = self.spec.containerd, self.spec.kubernetes.image_repository
        if repository is None or "pause_image" in containerd.model_fields_set:
            return containerd.pause_image
        return f"{repository}/pause:{PAUSE_TAG}"

    @property
    def crictl_version(self) -> str:
        """The cri-tools release to install: the inventory's, else the table's for the minor."""
        return self.spec.artifacts.crictl_version or self.release.crictl

    @property
    def hosts(self) -> list[Host]:
        """All hosts, in inventory order."""
        return self.spec.hosts

    @property
    def control_planes(self) -> list[Host]:
        """Control-plane hosts, the first one is where ``kubeadm init`` runs."""
        return [h for h in self.spec.hosts if h.is_control_plane]

    @property
    def first_control_plane(self) -> Host:
        """The host ``kubeadm init`` runs on."""
        return self.control_planes[0]

    @property
    def windows_hosts(self) -> list[Host]:
        """Windows workers."""
        return [h for h in self.spec.hosts if h.is_windows]

    @property
    def linux_hosts(self) -> list[Host]:
        """Linux hosts (control planes and workers)."""
        return [h for h in self.spec.hosts if not h.is_windows]

    def host(self, name: str) -> Host:
        """The host called ``name``; KeyError if there is none."""
        for h in self.spec.hosts:
            if h.name == name:
                return h
        raise KeyError(name)
