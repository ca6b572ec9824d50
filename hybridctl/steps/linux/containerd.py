"""``containerd``: containerd from its release tarball under /usr/local, runc, and the systemd unit."""

from __future__ import annotations

import hashlib
from typing import ClassVar

from hybridctl.artifacts import Artifact, Catalog
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux import binaries
from hybridctl.steps.linux.common import LinuxStep, platform, unit_changes

UNIT = "containerd.service"
UNIT_PATH = "/usr/local/lib/systemd/system/containerd.service"  # where containerd's getting-started puts it
RUNC_PATH = "/usr/local/sbin/runc"
PREFIX = "/usr/local"
# The settings of containerd's own unit file (containerd.service in its repository): the kubelet needs
# Delegate=yes for its cgroups and KillMode=process so that restarting containerd leaves running containers
# alone; Type=notify makes ``systemctl start`` return only once containerd serves its socket (it sends
# READY=1 then, cmd/containerd/command/notify_systemd.go), so the next step's ctr or crictl finds it.
UNIT_FILE = b"""\
# Installed by hybridctl: containerd from the release tarball in /usr/local.
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=1048576
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
"""


class Containerd(LinuxStep):
    """Install containerd and runc (sha256-verified) and run containerd under systemd."""

    name: ClassVar[str] = "containerd"
    title: ClassVar[str] = "install containerd and runc"
    timeout: ClassVar[float] = 1200.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Binaries of another release or modified, the unit file, the unit's state."""
        changes = [Change(f"install {what}: {why}") for what, why in self._problems(host, ctx)]
        if _unit_differs(ctx, host):
            changes.append(Change(f"write {UNIT_PATH}"))
        return changes + unit_changes(ctx, host, [UNIT], start=True)

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Install what differs, then enable and (re)start containerd."""
        linux = platform(ctx, host)
        installed = bool(self._problems(host, ctx))
        for artifact, dest in self._artifacts(ctx):
            sha = binaries.wanted_sha256(ctx, host, linux, artifact)
            if binaries.install_problems(host, linux, artifact.name, sha):
                install = binaries.install_binary if dest == RUNC_PATH else binaries.install_archive
                install(ctx, host, linux, artifact, sha256=sha, dest=dest)
        if _unit_differs(ctx, host):
            linux.install_file(host, UNIT_PATH, UNIT_FILE, 0o644)
            linux.systemctl(host, "daemon-reload")
            installed = True
        linux.systemctl(host, "enable", UNIT)
        linux.systemctl(host, "restart" if installed else "start", UNIT)

    def _artifacts(self, ctx: StepContext) -> list[tuple[Artifact, str]]:
        catalog = Catalog(ctx.cluster)
        return [(catalog.containerd_archive("linux"), PREFIX), (catalog.runc(), RUNC_PATH)]

    def _problems(self, host: HostView, ctx: StepContext) -> list[tuple[str, str]]:
        linux = platform(ctx, host)
        found = []
        for artifact, _ in self._artifacts(ctx):
            sha = binaries.wanted_sha256(ctx, host, linux, artifact)
            found += [
                (artifact.filename, why) for why in binaries.install_problems(host, linux, artifact.name, sha)
            ]
        return found


def _unit_differs(ctx: StepContext, host: HostView) -> bool:
    wanted = hashlib.sha256(UNIT_FILE).hexdigest()
    return platform(ctx, host).file_hashes(host, [UNIT_PATH]).get(UNIT_PATH) != wanted
