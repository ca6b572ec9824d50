"""``linux-preflight``: refuse, before anything changes, a Linux host hybridctl cannot prepare."""

from __future__ import annotations

from typing import Any, ClassVar

from hybridctl.commands import shell
from hybridctl.platforms.linux import FAMILIES
from hybridctl.steps.base import Change, StepError, mode_switch_problems, other_mode
from hybridctl.steps.context import StepContext
from hybridctl.steps.facts import GatherFacts
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.cleanup import existing
from hybridctl.steps.linux.common import LinuxStep
from hybridctl.steps.values import facts_key

_TOOLS = ("curl", "wget", "tar", "sha256sum", "iptables", "ip", "systemctl", "apt-get", "dnf")
_REQUIRED = ("tar", "sha256sum", "iptables", "ip", "systemctl")
_PROBE = """\
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
for t; do if command -v "$t" >/dev/null 2>&1; then echo "tool=$t"; fi; done
swapon --show=NAME --noheadings 2>/dev/null | sed 's/^/swap=/' || true
if systemctl is-active --quiet firewalld 2>/dev/null; then echo firewall=firewalld; fi
if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q '^Status: active'; then
    echo firewall=ufw
fi
iptables -w -S FORWARD 2>/dev/null | sed -n 's/^-P FORWARD /forward=/p' || true
echo "cgroupfs=$(stat -fc %T /sys/fs/cgroup/ 2>/dev/null)"
if (echo -1 > /proc/self/oom_score_adj) 2>/dev/null; then echo oom=lowers; else echo oom=fixed; fi
"""
# The last probe line lowers the OOM score of a subshell that exits at once (nothing else changes): the
# kernel refuses it without CAP_SYS_RESOURCE, and so it refuses runc's -998 for every pod sandbox.
# The kubelet asks libcontainer's IsCgroup2UnifiedMode(): /sys/fs/cgroup must be a cgroup2 mount. A hybrid
# host (tmpfs there, cgroup2 only below it) counts as cgroup v1 (pkg/kubelet/apis/config/validation/
# validation_linux.go, k8s.io/kubernetes v1.37.2).
_CGROUP_V2_FS = "cgroup2fs"


class LinuxPreflight(LinuxStep):
    """Probe distribution, architecture, systemd, root rights, clock and swap; never changes anything."""

    name: ClassVar[str] = "linux-preflight"
    title: ClassVar[str] = "check that the Linux host can be prepared"
    timeout: ClassVar[float] = 60.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Record the host's facts; StepError listing every problem that would make later steps fail."""
        GatherFacts().check(host, ctx)
        facts: dict[str, Any] = dict(ctx.state.get(facts_key(host.name)))
        facts.update(_linux_facts(host))
        facts["family"] = FAMILIES.get(facts["distribution"])
        facts["problems"] = [
            *facts["problems"],
            *_problems(facts),
            *_cgroup_problems(facts, ctx),
            *mode_problems(host, ctx.cluster.spec.network.mode),
        ]
        facts["warnings"] = firewall_warnings(facts) + oom_warnings(facts, ctx)
        ctx.state.set(facts_key(host.name), facts)
        for warning in facts["warnings"]:
            ctx.emit("warning", host=host.name, step=self.name, message=warning)
        if facts["problems"]:
            raise StepError(
                f"{host.name}: cannot prepare this host: " + "; ".join(facts["problems"]),
                hint="hybridctl supports amd64 systemd hosts with Debian, Ubuntu, RHEL, Rocky or AlmaLinux",
            )
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing to apply: a preflight only looks."""


def _linux_facts(host: HostView) -> dict[str, Any]:
    out = host.run(shell(_PROBE, *_TOOLS, probe=True)).stdout.splitlines()
    pairs = [line.split("=", 1) for line in out if "=" in line]
    return {
        "systemd": ["systemd", "yes"] in pairs,
        "tools": sorted(value for key, value in pairs if key == "tool"),
        "swap": [value for key, value in pairs if key == "swap"],
        "firewalls": [value for key, value in pairs if key == "firewall"],
        "forwardPolicy": next((value for key, value in pairs if key == "forward"), ""),
        "cgroup_v2": ["cgroupfs", _CGROUP_V2_FS] in pairs,
        "oom_lowers": ["oom", "fixed"] not in pairs,
    }


def firewall_warnings(facts: dict[str, Any]) -> list[str]:
    """What an active host firewall means for the pod network, in words (reported, not refused).

    hybridctl accepts forwarded pod traffic in its own FORWARD chain, as flannel does
    (flannel-io/flannel#1450), but firewalld and ufw filter in their own chains too.
    """
    found = [
        f"{name} is active: allow the cluster pod network to be forwarded and the node ports "
        "(6443, 10250, 30000-32767/tcp) from the other nodes "
        "(firewalld: firewall-cmd --permanent --zone=trusted --add-source=<podSubnet>; ufw: ufw route allow)"
        for name in facts.get("firewalls") or []
    ]
    if facts.get("forwardPolicy") == "DROP":
        found.append(
            "the iptables FORWARD policy is DROP (Docker, ufw or firewalld set it): hybridctl's "
            "HYBRIDCTL-POD-FWD chain accepts the pod network's traffic"
        )
    return found


def oom_warnings(facts: dict[str, Any], ctx: StepContext) -> list[str]:
    """A host where OOM scores cannot be lowered runs no pod unless containerd is told (reported).

    The kubelet asks for oom_score_adj -998 for every pod sandbox; runc's nsexec writes it and fails with
    "failed to update /proc/self/oom_score_adj: Permission denied" without CAP_SYS_RESOURCE (found on the
    real lab's VM). containerd's restrict_oom_score_adj raises the request to its own score instead.
    """
    if facts.get("oom_lowers", True) or ctx.cluster.spec.containerd.restrict_oom_score_adj:
        return []
    return [
        "OOM scores cannot be lowered on this host (no CAP_SYS_RESOURCE: a container, user namespace or "
        "sandboxed VM): runc will fail every pod with 'failed to update /proc/self/oom_score_adj: "
        "Permission denied'; set spec.containerd.restrictOomScoreAdj: true"
    ]


def _cgroup_problems(facts: dict[str, Any], ctx: StepContext) -> list[str]:
    """A cgroup v1 host needs the operator's explicit choice: the kubelet refuses it by default.

    ``failCgroupV1`` defaults to true since Kubernetes 1.35 (KEP-5573; ``SetDefaults_KubeletConfiguration``
    in pkg/kubelet/apis/config/v1beta1/defaults.go), and the kubelet then exits with "kubelet is configured
    to not run on a host using cgroup v1".
    """
    if facts["cgroup_v2"] or ctx.cluster.spec.kubernetes.allow_cgroup_v1:
        return []
    return [
        "the host runs cgroup v1 (or hybrid cgroups), which the kubelet refuses since Kubernetes 1.35: "
        "boot it with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or set "
        "spec.kubernetes.allowCgroupV1: true to render failCgroupV1: false (deprecated upstream)"
    ]


MODE_MARKERS = {
    "routes": (
        "/etc/cni/net.d/10-hybridctl-bridge.conflist",
        "/etc/systemd/system/hybridctl-pod-routes.service",
    ),
    "vxlan": ("/etc/cni/net.d/10-flannel.conflist", "/run/flannel/subnet.env"),
}
"""Files that show which pod network a node runs: routes mode's bridge config and routes unit, vxlan
mode's flannel CNI config (kube-flannel's install-cni) and flanneld's subnet lease."""


def mode_problems(host: HostView, mode: str) -> list[str]:
    """A node built in the other network mode is refused (``mode_switch_problems``)."""
    return mode_switch_problems(existing(host, MODE_MARKERS[other_mode(mode)]), mode)


def _problems(facts: dict[str, Any]) -> list[str]:
    found = []
    if not facts["systemd"]:
        found.append("systemd is not running as the init system")
    tools = set(facts["tools"])
    missing = [t for t in _REQUIRED if t not in tools]
    if not tools & {"curl", "wget"}:
        missing.append("curl or wget")
    family = facts["family"]
    if family == "apt" and "apt-get" not in tools:
        missing.append("apt-get")
    if family == "dnf" and "dnf" not in tools:
        missing.append("dnf")
    if missing:
        found.append("missing commands: " + ", ".join(missing))
    return found
