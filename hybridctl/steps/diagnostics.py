"""The ``support-bundle`` collection steps: logs, configuration and network state of each host (read-only).

Each step records ``{file name in the bundle: text}`` under ``bundle_key(host)`` in the run state; the
bundle writer masks credentials before anything is written. Every command is a probe marked
``sensitive``: what it reads (kubeconfigs, kubeadm configs) never reaches hybridctl's own host logs.
A command that fails (no journal, no iptables) is recorded with its exit code and stderr, not raised:
a bundle is most wanted from a broken host.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

from hybridctl.commands import posix
from hybridctl.platforms.windows import json_reply, strings, win_command
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import FIREWALL_PREFIX

LINUX_COMMANDS: dict[str, dict[str, tuple[str, ...]]] = {
    "logs": {
        "journal-kubelet.txt": ("journalctl", "-u", "kubelet", "--no-pager", "-n", "5000"),
        "journal-containerd.txt": ("journalctl", "-u", "containerd", "--no-pager", "-n", "5000"),
    },
    "network": {
        "routes.txt": ("ip", "-d", "route", "show", "table", "all"),
        "addresses.txt": ("ip", "-d", "address", "show"),
        "iptables-save.txt": ("iptables-save",),
    },
    "config": {"services.txt": ("systemctl", "is-active", "kubelet", "containerd")},
}
LINUX_FILES = (
    "/etc/kubernetes/kubelet.conf",
    "/var/lib/kubelet/config.yaml",
    "/var/lib/kubelet/kubeadm-flags.env",
    "/etc/containerd/config.toml",
)
LINUX_DIRECTORIES = ("/etc/kubernetes/hybridctl", "/etc/kubernetes/manifests", "/etc/cni/net.d")
WINDOWS_LOGS = (
    "C:\\var\\log\\kubelet\\kubelet.out.log",
    "C:\\var\\log\\kubelet\\kubelet.err.log",
    "C:\\var\\log\\kube-proxy\\kube-proxy.out.log",
    "C:\\var\\log\\kube-proxy\\kube-proxy.err.log",
)
WINDOWS_EVENT_LOGS = (
    "System",
    "Microsoft-Windows-Hyper-V-Compute-Admin",
    "Microsoft-Windows-Hyper-V-Compute-Operational",
)
WINDOWS_FILES = (
    "C:\\var\\lib\\kubelet\\config.yaml",
    "C:\\Program Files\\containerd\\config.toml",
    "C:\\etc\\kubernetes\\kubelet.conf",
    "C:\\etc\\kubernetes\\bootstrap-kubelet.conf",
    "C:\\k\\kube-proxy-config.yaml",
    "C:\\k\\kube-proxy.kubeconfig",
)
WINDOWS_DIRECTORIES = ("C:\\etc\\cni\\net.d",)


def bundle_key(host: str) -> str:
    """RunState key of what was collected from ``host``: ``dict[file name, text]``."""
    return f"bundle/{host}"


def record(ctx: StepContext, host: str, files: dict[str, str]) -> None:
    """Add collected files of ``host`` to the run state (one thread per host: no race)."""
    collected: dict[str, str] = ctx.state.setdefault(bundle_key(host), dict)
    collected.update(files)


class Collect(Step):
    """Collect one part (logs, network, config) of a host for the support bundle."""

    part: ClassVar[str]
    timeout: ClassVar[float] = 120.0
    windows_timeout: ClassVar[float] = 300.0
    retry_safe: ClassVar[bool] = True

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Collect and record; never a change."""
        files = _windows(host, self.part) if host.is_windows else _linux(host, self.part)
        record(ctx, host.name, files)
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing to apply."""


class CollectLogs(Collect):
    """kubelet/containerd journals (Linux); kubelet/kube-proxy logs, event logs (Windows)."""

    name: ClassVar[str] = "collect-logs"
    title: ClassVar[str] = "collect the node's logs"
    part: ClassVar[str] = "logs"


class CollectNetwork(Collect):
    """Routes, addresses, iptables (Linux); HNS objects, routes, firewall rules (Windows)."""

    name: ClassVar[str] = "collect-network"
    title: ClassVar[str] = "collect the node's network state"
    part: ClassVar[str] = "network"


class CollectConfig(Collect):
    """kubeadm, kubelet, containerd and CNI files, services (both)."""

    name: ClassVar[str] = "collect-config"
    title: ClassVar[str] = "collect the node's configuration"
    part: ClassVar[str] = "config"


def _linux(host: HostView, part: str) -> dict[str, str]:
    files = {name: _run(host, argv) for name, argv in LINUX_COMMANDS[part].items()}
    if part == "config":
        for path in [*LINUX_FILES, *_listed(host, LINUX_DIRECTORIES)]:
            files["files" + path] = _run(host, ("cat", path))
    return files


def _run(host: HostView, argv: tuple[str, ...]) -> str:
    """The command's output with a header naming it and its exit code."""
    result = host.run(posix(*argv, probe=True, sensitive=True), check=False)
    text = f"# $ {result.command}\n# exit {result.exit_code}\n{result.stdout}"
    return text + (f"\n# stderr:\n{result.stderr}" if result.stderr.strip() else "")


def _listed(host: HostView, directories: tuple[str, ...]) -> list[str]:
    argv = ("find", *directories, "-maxdepth", "1", "-type", "f")
    result = host.run(posix(*argv, probe=True), check=False)
    return sorted(line for line in result.stdout.splitlines() if line.startswith("/"))


def _windows(host: HostView, part: str) -> dict[str, str]:
    by_part: dict[str, dict[str, Any]] = {
        "logs": {"LogFiles": strings(WINDOWS_LOGS), "EventLogs": strings(WINDOWS_EVENT_LOGS)},
        "network": {"FirewallPrefix": FIREWALL_PREFIX},
        "config": {"Files": strings(WINDOWS_FILES), "Directories": strings(WINDOWS_DIRECTORIES)},
    }
    params = by_part[part]
    command = dataclasses.replace(
        win_command("diagnostics", {"Part": part, **params}, probe=True), sensitive=True
    )
    reply = json_reply(host.name, host.run(command, check=False), "win/diagnostics")
    return _windows_files(part, reply)


def _windows_files(part: str, reply: dict[str, Any]) -> dict[str, str]:
    files: dict[str, str] = {}
    if part in ("logs", "config"):
        for path, text in (reply.get("files") or {}).items():
            files["files/" + path.replace("\\", "/").replace(":", "")] = (
                text if text is not None else "# missing\n"
            )
    for log, entries in (reply.get("events") or {}).items():
        files[f"events-{log}.json"] = json.dumps(entries, indent=2, sort_keys=True) + "\n"
    members = {
        "logs": ("containerdEvents",),
        "network": ("hnsNetworks", "hnsEndpoints", "hnsPolicies", "routes", "firewallRules"),
        "config": ("services",),
    }[part]
    for member in members:
        files[f"{member}.json"] = json.dumps(reply.get(member), indent=2, sort_keys=True) + "\n"
    return files
