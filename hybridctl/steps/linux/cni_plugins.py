"""``cni-plugins``: the containernetworking plugins (bridge, host-local, portmap...) in /opt/cni/bin."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.artifacts import Catalog
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux import binaries
from hybridctl.steps.linux.common import LinuxStep, platform

CNI_BIN = "/opt/cni/bin"


class CniPlugins(LinuxStep):
    """Unpack the sha256-verified plugins release into /opt/cni/bin, where containerd's config looks."""

    name: ClassVar[str] = "cni-plugins"
    title: ClassVar[str] = "install the CNI plugins"
    timeout: ClassVar[float] = 900.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Plugins of another release, missing or modified."""
        artifact = Catalog(ctx.cluster).cni_plugins("linux")
        linux = platform(ctx, host)
        sha = binaries.wanted_sha256(ctx, host, linux, artifact)
        problems = binaries.install_problems(host, linux, artifact.name, sha)
        return [Change(f"install {artifact.filename} into {CNI_BIN}: {why}") for why in problems]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Download, verify and unpack."""
        artifact = Catalog(ctx.cluster).cni_plugins("linux")
        linux = platform(ctx, host)
        sha256 = binaries.wanted_sha256(ctx, host, linux, artifact)
        binaries.install_archive(ctx, host, linux, artifact, sha256=sha256, dest=CNI_BIN)
