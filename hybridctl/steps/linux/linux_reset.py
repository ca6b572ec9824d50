"""``linux-reset``: take a Linux node out of the cluster and remove what hybridctl put there.

Without ``purge`` the node keeps its runtime (packages, containerd, runc, CNI plugins, kernel settings)
so it can join again quickly; it loses its cluster membership (``kubeadm reset -f``), the pod network
(CNI config and IPAM state, cni0, hybridctl's routes and masquerade chain, kube-proxy's rules) and
hybridctl's scripts, units and kubeadm files. With ``purge`` the runtime goes too: the packages and the
repository, containerd, runc and the CNI plugins (exactly the files their records list), the units,
configuration and state directories.
"""

from __future__ import annotations

from typing import ClassVar

from hybridctl.commands import posix
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux import binaries, cleanup
from hybridctl.steps.linux import repository as repo
from hybridctl.steps.linux.cleanup import Action, action
from hybridctl.steps.linux.common import HYBRIDCTL_STATE, LinuxStep, platform
from hybridctl.steps.linux.containerd import UNIT_PATH as CONTAINERD_UNIT
from hybridctl.steps.linux.linux_pod_network import UNITS as POD_UNITS
from hybridctl.steps.linux.smoke_image import UNIT as PULL_UNIT
from hybridctl.steps.registry_hosts import recorded

POD_NETWORK_FILES = (
    "/etc/cni/net.d/10-hybridctl-bridge.conflist",
    "/etc/cni/net.d/10-flannel.conflist",  # vxlan: written by kube-flannel's install-cni init container
    "/run/flannel",  # vxlan: flanneld's subnet.env
    "/var/lib/cni",
    "/etc/hybridctl",
    *(f"/etc/systemd/system/{unit}" for unit in POD_UNITS),
    "/etc/kubernetes/hybridctl",
)
RUNTIME_FILES = (
    CONTAINERD_UNIT,
    "/etc/containerd/config.toml",
    "/etc/modules-load.d/hybridctl.conf",
    "/etc/sysctl.d/90-hybridctl.conf",
    repo.APT_SOURCE,
    repo.APT_KEYRING,
    repo.DNF_REPO,
    "/var/lib/containerd",
    "/var/lib/kubelet",
    "/var/lib/etcd",
    "/etc/kubernetes",
    binaries.CACHE,
    HYBRIDCTL_STATE,
)
ARTIFACTS = ("containerd-linux", "runc", "cni-plugins-linux")


class LinuxReset(LinuxStep):
    """Reset the node and remove hybridctl's files, units, routes, rules and interfaces (all idempotent)."""

    name: ClassVar[str] = "linux-reset"
    title: ClassVar[str] = "reset the Linux node"
    timeout: ClassVar[float] = 900.0

    def __init__(self, *, purge: bool = False) -> None:
        self.purge = purge

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Everything that is still there."""
        return [a.change for a in self.actions(host, ctx)]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Undo what is found now, in order: membership and services; then, found again once they have
        stopped, kernel state, packages and files. kube-proxy runs until ``kubeadm reset`` removes its pod
        and keeps syncing until then (the chains of a Service deleted meanwhile go, new ones come), so
        chains listed before the reset may be gone, or incomplete, after it."""
        for find in (self._stopping, self._remaining):
            for item in find(host, ctx):
                for command in item.commands:
                    host.run(command, timeout=600)

    def actions(self, host: HostView, ctx: StepContext) -> list[Action]:
        """What to undo on ``host``, found read-only."""
        return self._stopping(host, ctx) + self._remaining(host, ctx)

    def _stopping(self, host: HostView, ctx: StepContext) -> list[Action]:
        """The node's membership (``kubeadm reset``: pods and kubelet stop) and hybridctl's units."""
        return [*cleanup.kubeadm_reset(host), *_units(host, ctx, self.purge)]

    def _remaining(self, host: HostView, ctx: StepContext) -> list[Action]:
        """What is left once nothing runs: kernel state, packages (purge), files."""
        found = cleanup.kernel_state(host)
        if self.purge:
            found += _packages(host, ctx)
        return found + _files(host, self.purge)


def _units(host: HostView, ctx: StepContext, purge: bool) -> list[Action]:
    units = [*POD_UNITS, *(("kubelet.service", "containerd.service") if purge else ())]
    states = platform(ctx, host).unit_states(host, [*units, PULL_UNIT])
    found = []
    pull = states.pop(PULL_UNIT, None)
    if pull is not None and pull.is_active:  # transient (systemd-run): nothing to disable
        found.append(action(f"stop {PULL_UNIT} (smoke image pull)", posix("systemctl", "stop", PULL_UNIT)))
    busy = [u for u, s in states.items() if s.is_enabled or s.is_active]
    if busy:
        stop = posix("systemctl", "disable", "--now", *busy)
        found.append(action(f"stop and disable {', '.join(busy)}", stop))
    return found


def _packages(host: HostView, ctx: StepContext) -> list[Action]:
    family = platform(ctx, host).family
    names = sorted(repo.installed(host, family))
    if not names:
        return []
    if family == "apt":
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        return [
            action(
                f"remove packages {', '.join(names)}",
                posix("apt-mark", "unhold", *names),
                posix("apt-get", "purge", "-y", "-q", *names, env=env),
            )
        ]
    return [action(f"remove packages {', '.join(names)}", posix("dnf", "remove", "-y", *names))]


def _files(host: HostView, purge: bool) -> list[Action]:
    paths = list(POD_NETWORK_FILES)
    if purge:
        for name in ARTIFACTS:
            record = binaries.read_record(host, name)
            paths += sorted(record.files) if record else []
        paths += [*RUNTIME_FILES, *recorded(host)]  # recorded: the registry directories hybridctl wrote
    found = cleanup.existing(host, paths)
    if not found:
        return []
    reload = [posix("systemctl", "daemon-reload")] if any(p.endswith(".service") for p in found) else []
    return [action(f"remove {', '.join(found)}", posix("rm", "-rf", "--", *found), *reload)]
