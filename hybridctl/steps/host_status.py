"""``host-status``: what a node's host says about itself, for ``hybridctl status`` (read-only).

Linux: OS, kernel, the versions ``kubelet`` and ``containerd`` print, and whether their units are active.
Windows (``win/status``): OS caption and build, the kubelet, kube-proxy and containerd services and the
versions their binaries print.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from hybridctl.commands import shell
from hybridctl.platforms.windows import probe_json, strings
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import CONTAINERD_EXE, K_DIR

LINUX_PROBE = (
    ". /etc/os-release 2>/dev/null || true\n"
    'printf "os=%s\\n" "${PRETTY_NAME:-unknown}"\n'
    'printf "kernel=%s\\n" "$(uname -r)"\n'
    'printf "kubelet=%s\\n" "$(kubelet --version 2>/dev/null | head -n 1)"\n'
    'printf "containerd=%s\\n" "$(containerd --version 2>/dev/null | head -n 1)"\n'
    'printf "unit.kubelet=%s\\n" "$(systemctl is-active kubelet 2>/dev/null)"\n'
    'printf "unit.containerd=%s\\n" "$(systemctl is-active containerd 2>/dev/null)"\n'
)
WINDOWS_SERVICES = ("kubelet", "kube-proxy", "containerd")
WINDOWS_BINARIES = {
    "kubelet": f"{K_DIR}\\kubelet.exe",
    "kube-proxy": f"{K_DIR}\\kube-proxy.exe",
    "containerd": CONTAINERD_EXE,
}
_VERSION_RE = re.compile(r"\bv?(\d+\.\d+\.\d+)\b")


def host_status_key(host: str) -> str:
    """RunState key of a host's status."""
    return f"status/host/{host}"


def version_in(text: str | None) -> str | None:
    """The first ``X.Y.Z`` in a ``--version`` line (``Kubernetes v1.34.2`` -> ``1.34.2``)."""
    match = _VERSION_RE.search(text or "")
    return match.group(1) if match else None


class HostStatus(Step):
    """Read the node's components from its host; records them in the run state, changes nothing."""

    name: ClassVar[str] = "host-status"
    title: ClassVar[str] = "read the node's components from the host"
    timeout: ClassVar[float] = 60.0
    windows_timeout: ClassVar[float] = 120.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Probe and record; never a change."""
        status = _windows(host) if host.is_windows else _linux(host)
        ctx.state.set(host_status_key(host.name), status)
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing to apply."""


def _linux(host: HostView) -> dict[str, Any]:
    out = host.run(shell(LINUX_PROBE, probe=True)).stdout
    raw = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {
        "os": raw.get("os", ""),
        "build": raw.get("kernel", ""),
        "versions": {
            "kubelet": version_in(raw.get("kubelet")),
            "containerd": version_in(raw.get("containerd")),
        },
        "services": {
            "kubelet": raw.get("unit.kubelet") or "unknown",
            "containerd": raw.get("unit.containerd") or "unknown",
        },
    }


def _windows(host: HostView) -> dict[str, Any]:
    params = {"Services": strings(WINDOWS_SERVICES), "Binaries": strings(WINDOWS_BINARIES.values())}
    reply = probe_json(host, "status", dict(params))
    lines = reply.get("versions") or {}
    services = reply.get("services") or {}
    return {
        "os": str(reply.get("caption", "")),
        "build": str(reply.get("build", "")),
        "versions": {name: version_in(lines.get(path)) for name, path in WINDOWS_BINARIES.items()},
        "services": {name: _service_state(services.get(name)) for name in WINDOWS_SERVICES},
    }


def _service_state(status: object) -> str:
    """Windows service status as the Linux side words it: active, inactive or missing."""
    if status is None:
        return "missing"
    return "active" if str(status) == "Running" else f"inactive ({status})"
