"""``kubeadm-join``: join the other control planes and the Linux workers with a JoinConfiguration.

The rendered join file holds a bootstrap token (and, for control planes, the key of the uploaded
certificates). It is written 0600 right before ``kubeadm join`` and removed right after, whatever the
outcome: a credential at rest buys nothing, because a later join renders a fresh file with fresh
credentials anyway. An interrupted run can leave it behind; its token expires within the hour and
``join-cleanup`` deletes it, and ``linux-reset`` removes the file.
"""

from __future__ import annotations

from typing import ClassVar

from hybridctl.commands import posix
from hybridctl.inventory.models import Cluster, Host
from hybridctl.steps import kube
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import LinuxStep, files_install, host_files, platform

KUBELET_CONF = "/etc/kubernetes/kubelet.conf"


class KubeadmJoin(LinuxStep):
    """``kubeadm join --config``; a node half-joined (kubelet.conf xor Node) is reset and joined again."""

    name: ClassVar[str] = "kubeadm-join"
    title: ClassVar[str] = "join the node (kubeadm join)"
    requires: ClassVar[tuple[str, ...]] = ("kubeadm-init",)
    timeout: ClassVar[float] = 900.0
    retry_safe: ClassVar[bool] = False

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Linux hosts other than the first control plane."""
        return not host.is_windows and host != cluster.first_control_plane

    def one_at_a_time(self, host: Host) -> bool:
        """Control planes join one by one; workers join in parallel with them and with each other.

        A control-plane join adds a member to etcd, as a learner since kubeadm's EtcdLearnerMode (on by
        default since 1.29, kubeadm's ``app/features``), and etcd admits one learner at a time by default
        (KEP-3614, kubernetes/enhancements#3615 keeps that default). Two concurrent joins fail one of
        them with "etcdserver: too many learner members in cluster"; a three-control-plane lab cluster
        hit it.
        Concurrent control-plane joins also raced in kubeadm before learner mode (kubernetes/kubeadm#2005).
        """
        return host.is_control_plane

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Joined means kubelet.conf exists and the Node is registered."""
        has_conf, registered = _state(host, ctx)
        role = "control plane" if host.host.is_control_plane else "worker"
        if has_conf and registered:
            return []
        if not has_conf and not registered:
            return [Change(f"kubeadm join as a {role}")]
        half = "kubelet.conf without a Node object" if has_conf else "a Node object without kubelet.conf"
        return [Change(f"kubeadm reset and join again as a {role} (found {half})", impact="delete")]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Reset a half-joined node, join with fresh credentials; the join file never outlives the join."""
        has_conf, registered = _state(host, ctx)
        if has_conf or registered:
            host.run(posix("kubeadm", "reset", "-f"), timeout=300)
        if registered:
            # kubeadm join refuses a name whose Node is still Ready; this one has no working kubelet.
            kube.kubectl(kube.control_plane_handle(ctx), "delete", "node", host.name, "--ignore-not-found")
        kube.join_credentials(ctx)
        if host.host.is_control_plane:
            kube.certificate_key(ctx)
        files = host_files(ctx, host, ["kubeadm-join"])
        target = files[0].target
        assert target is not None
        try:
            files_install(ctx, host, files)
            host.run(posix("kubeadm", "join", "--config", target), timeout=800)
        finally:
            platform(ctx, host).remove_paths(host, [target])


def _state(host: HostView, ctx: StepContext) -> tuple[bool, bool]:
    has_conf = host.run(posix("test", "-s", KUBELET_CONF, probe=True), check=False).ok
    return has_conf, host.name in kube.nodes(ctx)
