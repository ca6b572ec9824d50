"""``flannel``: vxlan mode's pod network on the Linux nodes: the kube-flannel objects, applied by kubectl.

What is applied is ``render_cluster``'s ``kube-flannel`` file (namespace, ServiceAccount, RBAC, the
Linux-only DaemonSet, after flannel's own ``Documentation/kube-flannel.yml``) followed by the
``kube-flannel-cfg`` ConfigMap (VNI 4096, UDP 4789, shared with Windows flanneld). The check is
``kubectl diff`` (a server-side dry run: nothing changes, exit 1 when the live objects differ), so a
converged cluster shows no change and the apply runs only when something differs. flanneld itself then
builds the ``flannel.4096`` VXLAN device, writes ``/run/flannel/subnet.env`` from the node's pod CIDR, and
its init containers install the flannel CNI plugin and ``10-flannel.conflist`` on every Linux node.
"""

from __future__ import annotations

from typing import ClassVar

from hybridctl.commands import posix
from hybridctl.inventory.models import Cluster, Host
from hybridctl.render import render_cluster
from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.cluster.common import ClusterStep
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import runtime_values

PURPOSES = ("flannel", "flannel-config")
NAMESPACE = "kube-flannel"


class Flannel(ClusterStep):
    """Apply the kube-flannel objects when they differ from the rendered ones."""

    name: ClassVar[str] = "flannel"
    title: ClassVar[str] = "run flannel on the Linux nodes (vxlan mode)"
    requires: ClassVar[tuple[str, ...]] = ("pod-cidrs",)

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """The first control plane of a vxlan-mode cluster."""
        return cluster.spec.network.mode == "vxlan" and super().applies_to(host, cluster)

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """One change with ``kubectl diff``'s output when any kube-flannel object differs."""
        if not kube.initialised(host):
            return [Change("apply the kube-flannel objects once the cluster exists")]
        namespace = kube.kubectl(host, "get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name")
        if not namespace.stdout.strip():  # kubectl diff refuses objects of a namespace that does not exist
            return [Change("create the kube-flannel namespace, RBAC, DaemonSet and kube-flannel-cfg")]
        diff = posix(
            "kubectl", "--kubeconfig", kube.ADMIN_CONF, "diff", "-f", "-", stdin=manifest(ctx), probe=True
        )
        done = host.run(diff, check=False)
        if done.exit_code == 0:
            return []
        if done.exit_code != 1:  # kubectl diff: 0 same, 1 differs, >1 failed
            raise StepError(f"{host.name}: kubectl diff of the kube-flannel objects failed: {done.stderr}")
        return [Change("apply the kube-flannel objects (DaemonSet, RBAC, kube-flannel-cfg)", done.stdout)]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """``kubectl apply`` the rendered objects (namespace first)."""
        kube.kubectl(host, "apply", "-f", "-", stdin=manifest(ctx))


def manifest(ctx: StepContext) -> bytes:
    """The kube-flannel objects then the ConfigMap, as one YAML stream."""
    files = {f.purpose: f for f in render_cluster(ctx.cluster, runtime_values(ctx)) if f.purpose in PURPOSES}
    return b"---\n".join(files[purpose].installable() for purpose in PURPOSES)
