"""Facts about a host (OS, version or build, architecture, hostname, clock skew, admin rights), read-only."""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from hybridctl.commands import powershell, shell
from hybridctl.resources import powershell_script
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import facts_key
from hybridctl.versions import WINDOWS_BUILDS

SKEW_LIMIT = 5.0
LINUX_PROBE = (
    ". /etc/os-release 2>/dev/null || true\n"
    'printf "os=%s\\nversion=%s\\npretty=%s\\n" "${ID:-unknown}" "${VERSION_ID:-}" "${PRETTY_NAME:-}"\n'
    'printf "arch=%s\\nhostname=%s\\nuid=%s\\n" "$(uname -m)" "$(hostname)" "$(id -u)"\n'
    'printf "now=%s\\n" "$(date +%s.%N)"\n'
)
SUPPORTED_LINUX = {"debian", "ubuntu", "rhel", "rocky", "almalinux"}


class GatherFacts(Step):
    """Read what preflight cares about; never changes anything (its check always reports no change)."""

    name: ClassVar[str] = "facts"
    title: ClassVar[str] = "gather host facts"
    timeout: ClassVar[float] = 60.0
    windows_timeout: ClassVar[float] = 120.0

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Probe the host and record its facts in the run state."""
        before = time.time()
        facts = _windows_facts(host) if host.is_windows else _linux_facts(host)
        facts["skew"] = round(float(facts.pop("now")) - (before + time.time()) / 2, 3)
        facts["problems"] = problems(host, facts)
        ctx.state.set(facts_key(host.name), facts)
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing to apply."""


def _linux_facts(host: HostView) -> dict[str, Any]:
    out = host.run(shell(LINUX_PROBE, probe=True)).stdout
    raw = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {
        "os": "linux",
        "distribution": raw.get("os", "unknown"),
        "version": raw.get("version", ""),
        "description": raw.get("pretty", ""),
        "arch": raw.get("arch", ""),
        "hostname": raw.get("hostname", ""),
        "admin": raw.get("uid") == "0",
        "now": raw.get("now", "0"),
    }


def _windows_facts(host: HostView) -> dict[str, Any]:
    out = host.run(powershell(powershell_script("node/facts"), probe=True)).stdout
    raw = json.loads(out.strip().splitlines()[-1])
    return {
        "os": "windows",
        "distribution": "windows-server",
        "version": str(raw.get("build", "")),
        "description": str(raw.get("caption", "")),
        "arch": str(raw.get("arch", "")),
        "hostname": str(raw.get("hostname", "")),
        "admin": bool(raw.get("isAdmin")),
        "now": str(_epoch(str(raw.get("utcNow", "")))),
    }


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else 0.0


def problems(host: HostView, facts: dict[str, Any]) -> list[str]:
    """What preflight would refuse or warn about, in words."""
    found = []
    if not facts["admin"]:
        found.append("no administrator rights (root, passwordless sudo, or an elevated WinRM session)")
    if abs(facts["skew"]) > SKEW_LIMIT:
        found.append(
            f"clock differs from this machine by {facts['skew']:+.1f}s (x509 and tokens need synced time)"
        )
    if facts["arch"].lower() not in ("x86_64", "amd64"):
        found.append(f"architecture {facts['arch']} is not amd64")
    found += _windows_problems(host, facts) if host.is_windows else _linux_problems(facts)
    return found


def _linux_problems(facts: dict[str, Any]) -> list[str]:
    if facts["distribution"] not in SUPPORTED_LINUX:
        return [f"distribution {facts['distribution']} is not one of {', '.join(sorted(SUPPORTED_LINUX))}"]
    return []


def _windows_problems(host: HostView, facts: dict[str, Any]) -> list[str]:
    found = []
    builds = {build: version for version, build in WINDOWS_BUILDS.items()}
    build = ".".join(facts["version"].split(".")[:3])
    expected = host.host.windows_version
    if build not in builds:
        found.append(f"Windows build {facts['version']} is not Server 2019, 2022 or 2025")
    elif expected is not None and builds[build] != expected:
        found.append(f"the host runs Windows Server {builds[build]}, the inventory says {expected}")
    if facts["hostname"] != host.name:
        found.append(f"computer name {facts['hostname']!r} is not the node name {host.name!r}")
    return found
