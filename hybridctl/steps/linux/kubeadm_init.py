"""``kubeadm-init``: create the cluster on the first control plane, once; never initialise it again."""

from __future__ import annotations

import dataclasses
import secrets
import time
from typing import ClassVar

from pydantic import SecretStr

from hybridctl.commands import posix, shell
from hybridctl.inventory.models import Cluster, Host
from hybridctl.render import RenderedFile, render_host
from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import LinuxStep, files_install, platform
from hybridctl.steps.values import runtime_values
from hybridctl.versions import KubeVersion

# Left behind by an init that was interrupted before it wrote admin.conf: kubeadm's preflight refuses
# to run over them, and no cluster ever answered from them, so resetting is safe.
_LEFTOVERS = 'for p; do if [ -e "$p" ]; then printf "%s\\n" "$p"; fi; done'
LEFTOVER_PATHS = (
    "/etc/kubernetes/manifests/kube-apiserver.yaml",
    "/etc/kubernetes/pki/ca.key",
    "/var/lib/etcd/member",
)
API_ATTEMPTS = 5
FINISHED_BY: tuple[tuple[str, str, str], ...] = (
    ("kube-system", "configmap", "kubeadm-config"),  # phase upload-config
    ("kube-public", "configmap", "cluster-info"),  # phase bootstrap-token (joins discover the cluster here)
    ("kube-system", "daemonset", "kube-proxy"),  # phase addon
    ("kube-system", "deployment", "coredns"),  # phase addon
)
"""What the last phases of ``kubeadm init`` create, in their order (cmd/kubeadm/app/cmd/init.go)."""
FINISH_PHASES: tuple[tuple[str, ...], ...] = (
    ("upload-config", "all"),
    ("mark-control-plane",),
    ("bootstrap-token", "--skip-token-print"),
    ("kubelet-finalize", "all"),
    ("addon", "all"),
)
"""The phases after ``wait-control-plane`` (upload-certs aside: control-plane joins upload the
certificates again with a fresh key). Each creates or updates its objects, so running them again on a
finished cluster changes nothing."""
FINISH = "finish the interrupted kubeadm init (its phases after the control plane started)"


class KubeadmInit(LinuxStep):
    """``kubeadm init --config`` with the rendered configuration; a no-op once the cluster exists."""

    name: ClassVar[str] = "kubeadm-init"
    title: ClassVar[str] = "initialise the cluster (kubeadm init)"
    timeout: ClassVar[float] = 900.0
    retry_safe: ClassVar[bool] = False  # a half-done init must be looked at, not repeated blindly

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """The first control plane only."""
        return host == cluster.first_control_plane

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Initialised (admin.conf) and the API answers: nothing, unless an interrupted init left out its
        last phases (kubeadm writes admin.conf long before them); no admin.conf: init."""
        if not kube.initialised(host):
            return [Change(f"kubeadm init (Kubernetes {ctx.cluster.spec.kubernetes.version})")]
        if not api_answers(host):
            raise StepError(
                f"{host.name}: {kube.ADMIN_CONF} exists but the API server does not answer",
                hint="hybridctl never initialises a cluster twice: check the control plane; "
                "to start over, run 'kubeadm reset -f' on this host",
            )
        refuse_version_change(
            kube.server_version(host), KubeVersion.parse(ctx.cluster.spec.kubernetes.version)
        )
        missing = [
            f"{kind} {ns}/{name}" for ns, kind, name in FINISHED_BY if not _exists(host, ns, kind, name)
        ]
        return [Change(f"{FINISH}: missing {', '.join(missing)}")] if missing else []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Clear leftovers of an init interrupted before admin.conf, write the config, run kubeadm init;
        or, for an init cut off later, run its remaining phases (``FINISH_PHASES``)."""
        several = len(ctx.cluster.control_planes) > 1
        files = self._files(ctx, host.host, several)
        finishing = any(c.summary.startswith(FINISH) for c in changes)
        if not finishing and host.run(shell(_LEFTOVERS, *LEFTOVER_PATHS)).stdout.split():
            host.run(posix("kubeadm", "reset", "-f"), timeout=300)
        files_install(ctx, host, files)
        target = files[0].target
        assert target is not None
        try:
            if finishing:
                for phase in FINISH_PHASES:
                    host.run(posix("kubeadm", "init", "phase", *phase, "--config", target), timeout=300)
            else:
                host.run(
                    posix("kubeadm", "init", "--config", target, *_init_flags(several)),
                    timeout=800,
                )
        finally:
            if files[0].secret:  # the certificate key is only needed by this one command
                platform(ctx, host).remove_paths(host, [target])

    def _files(self, ctx: StepContext, host: Host, several: bool) -> list[RenderedFile]:
        values = runtime_values(ctx)
        if several:
            # kubeadm encrypts the uploaded certificates with this key; the other control planes get a
            # fresh one from join_credentials, so it never has to leave this command.
            key = secrets.token_hex(32)
            ctx.masker.add(key)
            values = dataclasses.replace(values, certificate_key=SecretStr(key))
        return [f for f in render_host(ctx.cluster, host, values) if f.purpose == "kubeadm-init"]


def refuse_version_change(running: KubeVersion, wanted: KubeVersion) -> None:
    """An existing cluster keeps its release: hybridctl neither upgrades nor downgrades it (yet).

    Changing the inventory's version would otherwise install other packages and binaries node by node
    while the control plane stays where it is: a half-upgrade that can break the skew policy.
    """
    if running == wanted:
        return
    what = "upgrades" if wanted > running else "downgrades"
    raise StepError(
        f"the cluster runs Kubernetes {running}, the inventory asks for {wanted}: "
        f"{what} are not supported yet",
        hint=f"set spec.kubernetes.version: {running} to manage this cluster; upgrade it with "
        "'kubeadm upgrade' (control plane first, then each node) before changing the version here",
    )


def _init_flags(several: bool) -> list[str]:
    # kubeadm init prints its default bootstrap token (and the certificate key): keep both out of the logs
    flags = ["--skip-token-print"]
    return [*flags, "--upload-certs", "--skip-certificate-key-print"] if several else flags


def _exists(host: HostView, namespace: str, kind: str, name: str) -> bool:
    found = kube.kubectl(host, "get", "-n", namespace, kind, name, "--ignore-not-found", "-o", "json")
    return bool(found.stdout.strip())


def api_answers(host: HostView, attempts: int = API_ATTEMPTS) -> bool:
    """Whether the API server answers /readyz through admin.conf (a few tries: it may be restarting)."""
    for attempt in range(attempts):
        if kube.kubectl(host, "get", "--raw", "/readyz", check=False).ok:
            return True
        if attempt + 1 < attempts:
            time.sleep(2.0)
    return False
