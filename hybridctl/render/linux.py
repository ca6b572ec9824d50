"""The files of a Linux node: kubeadm config, containerd, kernel settings, and the routes-mode pod network."""

from __future__ import annotations

from hybridctl.inventory import Cluster, Host
from hybridctl.render.engine import FileSpec, table

# (template under templates/linux/ without .j2, target, purpose, kind); kind: plain, secret or script.
_INIT = ("kubeadm/kubeadm-init.yaml", "/etc/kubernetes/hybridctl/kubeadm-init.yaml", "kubeadm-init")
_JOIN = (
    ("kubeadm/kubeadm-join.yaml", "/etc/kubernetes/hybridctl/kubeadm-join.yaml", "kubeadm-join", "secret"),
)
_BASE = (
    ("containerd/config.toml", "/etc/containerd/config.toml", "containerd-config", "plain"),
    ("modules-load.d/hybridctl.conf", "/etc/modules-load.d/hybridctl.conf", "kernel-modules", "plain"),
    ("sysctl.d/90-hybridctl.conf", "/etc/sysctl.d/90-hybridctl.conf", "sysctl", "plain"),
)
_ROUTES_MODE = (
    (
        "cni/10-hybridctl-bridge.conflist",
        "/etc/cni/net.d/10-hybridctl-bridge.conflist",
        "cni-config",
        "plain",
    ),
    ("hybridctl/pod-routes.sh", "/etc/hybridctl/pod-routes.sh", "routes", "script"),
    (
        "systemd/hybridctl-pod-routes.service",
        "/etc/systemd/system/hybridctl-pod-routes.service",
        "routes",
        "plain",
    ),
    ("hybridctl/pod-masquerade.sh", "/etc/hybridctl/pod-masquerade.sh", "masquerade", "script"),
    (
        "systemd/hybridctl-pod-masquerade.service",
        "/etc/systemd/system/hybridctl-pod-masquerade.service",
        "masquerade",
        "plain",
    ),
)


def linux_specs(cluster: Cluster, host: Host) -> list[FileSpec]:
    """What a Linux host gets, in a stable order."""
    network = _ROUTES_MODE if cluster.spec.network.mode == "routes" else ()
    return table("linux", (*_kubeadm(cluster, host), *_BASE, *network))


def _kubeadm(cluster: Cluster, host: Host) -> tuple[tuple[str, str, str, str], ...]:
    if host != cluster.first_control_plane:
        return _JOIN
    # With several control planes the file carries the key that decrypts the uploaded certificates.
    kind = "secret" if len(cluster.control_planes) > 1 else "private"
    return ((*_INIT, kind),)
