"""What a render produces: ``RenderedFile`` values, the documented set of purposes, output paths."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from hybridctl.errors import PlaceholderError, RenderError
from hybridctl.render.placeholders import find_placeholders, has_marker

PURPOSES: dict[str, str] = {
    "kubeadm-init": "kubeadm InitConfiguration + ClusterConfiguration + KubeletConfiguration of the first "
    "control plane",
    "kubeadm-join": "kubeadm JoinConfiguration of another control plane or a Linux worker",
    "containerd-config": "containerd config.toml: CRI runtime handlers, pinned pause image, CNI directories",
    "registry-hosts": "containerd hosts.toml of a registry (mirrors, plain HTTP, CA) and its CA files",
    "kernel-modules": "kernel modules loaded at boot (overlay, br_netfilter)",
    "sysctl": "kernel parameters for bridged pod traffic and IP forwarding",
    "cni-config": "CNI network configuration of the node's pod network",
    "routes": "static routes to every other node's pod CIDR, reapplied at boot (routes mode)",
    "masquerade": "SNAT of pod traffic leaving the cluster pod network (Linux, routes mode)",
    "kubelet-config": "full KubeletConfiguration of a Windows node",
    "kubelet-bootstrap-kubeconfig": "kubelet TLS-bootstrap kubeconfig holding a bootstrap token",
    "ca-certificate": "the cluster CA certificate",
    "kubelet-service": "Windows service definition (nssm) of the kubelet",
    "kube-proxy-config": "KubeProxyConfiguration of a Windows node (winkernel)",
    "kube-proxy-kubeconfig": "kubeconfig of Windows kube-proxy, holding a kube-proxy ServiceAccount token",
    "kube-proxy-service": "Windows service definition (nssm) of kube-proxy",
    "firewall": "Windows firewall rules for the node's ports",
    "hns-network": "HNS L2Bridge network definition of a Windows node (routes mode)",
    "flannel-net-conf": "flannel net-conf.json read by Windows flanneld (vxlan mode)",
    "flanneld-kubeconfig": "kubeconfig of Windows flanneld with a flannel ServiceAccount token (vxlan)",
    "flanneld-service": "Windows service definition (nssm) of flanneld (vxlan mode)",
    "boot-task": "Windows boot script: pod network first, then the node agents in dependency order",
    "runtimeclass": "RuntimeClass selecting Windows nodes and an isolation mode",
    "flannel": "kube-flannel namespace, ServiceAccount, RBAC and DaemonSet on Linux nodes (vxlan mode)",
    "flannel-config": "kube-flannel-cfg ConfigMap shared by Linux and Windows flanneld (vxlan mode)",
    "script": "constant PowerShell script hybridctl runs over WinRM",
    "smoke-workload": "namespace, DaemonSets and Services `hybridctl smoke` creates (and deletes)",
}
"""Every purpose a rendered file can have, with a one-line description."""

_DRIVE = re.compile(r"^[A-Za-z]:\\")


@dataclass(frozen=True)
class RenderedFile:
    """One rendered file: where it goes, why, and its bytes."""

    host: str | None
    target: str | None
    purpose: str
    content: bytes
    mode: int
    relpath: str
    secret: bool

    def __post_init__(self) -> None:
        if self.purpose not in PURPOSES:
            raise RenderError(f"unknown purpose {self.purpose!r} for {self.relpath}")

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content."""
        return hashlib.sha256(self.content).hexdigest()

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Names of the unresolved runtime values in the content."""
        return find_placeholders(self.content)

    def installable(self) -> bytes:
        """The content, or PlaceholderError when a runtime value is still missing."""
        if has_marker(self.content):
            names = ", ".join(self.placeholders) or "unreadable placeholder"
            where = f"{self.host}:{self.target}" if self.host else self.relpath
            raise PlaceholderError(
                f"{where} still needs runtime values: {names}",
                hint="these values exist once the cluster runs; render again with them (--assume FILE)",
            )
        return self.content


def host_relpath(host: str, target: str) -> str:
    """``<host>/<path on node>``: ``win1/C/Program Files/containerd/config.toml``, ``cp1/etc/x.conf``."""
    _check_segment(host)
    if _DRIVE.match(target):
        win = PureWindowsPath(target)
        parts = [win.drive.rstrip(":"), *win.parts[1:]]
    elif target.startswith("/"):
        parts = list(PurePosixPath(target).parts[1:])
    else:
        raise RenderError(f"target {target!r} of host {host!r} is not an absolute path")
    for part in parts:
        _check_segment(part)
    return "/".join([host, *parts])


def _check_segment(segment: str) -> None:
    if segment in ("", ".", "..") or any(c in segment for c in "/\\\x00"):
        raise RenderError(f"{segment!r} cannot be a path segment of the output directory")
