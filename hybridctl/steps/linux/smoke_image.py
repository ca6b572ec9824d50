"""smoke-image (``spec.smoke.prePull``): containerd pulls the smoke image in the background on a Linux node.

``ctr`` comes with containerd's release tarball (the containerd step installs it in /usr/local/bin). It
pulls into the CRI plugin's namespace ``k8s.io``, where the kubelet finds the image (kind and k3s side-load
images the same way: the CRI plugin's image store takes every image of that namespace, labelled or not),
and unpacks it for the default snapshotter (the CRI unpacks it for its own at container creation when
they differ: containerd internal/cri/opts/container.go, ``WithNewSnapshot``); with
``spec.containerd.registries`` it reads the same ``hosts.toml`` files (``--hosts-dir``, containerd's
docs/hosts.md). The pull runs in a transient unit (``systemd-run --collect``), so it outlives the SSH
command and leaves nothing behind once done.
"""

from __future__ import annotations

from typing import ClassVar

from hybridctl.commands import posix
from hybridctl.inventory.models import Cluster, Host
from hybridctl.render.registries import config_path
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import LinuxStep, platform
from hybridctl.steps.smoke_image import PULL_NAME, pre_pulls, pull_changes, pull_ref

CTR = "/usr/local/bin/ctr"
NAMESPACE = "k8s.io"
UNIT = f"{PULL_NAME}.service"


class SmokeImage(LinuxStep):
    """Start the background pull of the smoke image unless containerd has it or the pull runs."""

    name: ClassVar[str] = "smoke-image"
    title: ClassVar[str] = "pull the smoke image (background)"

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """Linux hosts, when the inventory asks for it."""
        return pre_pulls(host, cluster, windows=False)

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """``ctr images list`` in ``k8s.io``, and whether the pull unit runs."""
        ref = pull_ref(ctx.cluster)
        # Before containerd runs (a fresh node's plan) ctr fails or is missing: the image is not there.
        listed = host.run(
            posix(CTR, "--namespace", NAMESPACE, "images", "list", "--quiet", probe=True), check=False
        )
        present = listed.ok and ref in listed.stdout.split()
        unit = platform(ctx, host).unit_states(host, [UNIT]).get(UNIT)
        pulling = unit is not None and unit.is_active
        return pull_changes(ref, present=present, pulling=pulling, where=f"unit {UNIT}")

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """``systemd-run`` the pull; it goes on after this returns."""
        hosts_dir = ["--hosts-dir", config_path(host.host)] if ctx.cluster.spec.containerd.registries else []
        pull = [CTR, "--namespace", NAMESPACE, "images", "pull", *hosts_dir, pull_ref(ctx.cluster)]
        description = "--description=hybridctl: pull the smoke image (spec.smoke.prePull)"
        host.run(posix("systemd-run", f"--unit={UNIT}", "--collect", "--quiet", description, *pull))
