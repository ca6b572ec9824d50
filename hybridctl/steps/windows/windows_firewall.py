"""windows-firewall: the rendered firewall.ps1 installed and run; hybridctl-* rules compared with it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from hybridctl.platforms.windows import apply_json
from hybridctl.render import RenderedFile
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.files import file_changes, install
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import FIREWALL_PREFIX, PLATFORM, KnownHashes, WindowsStep, host_files

_RULE = re.compile(
    r"^Set-HybridctlRule -Name '([^']+)' -DisplayName '(?:[^']|'')*' -Direction '(\w+)' "
    r"-Protocol '(\w+)' -Port '([^']+)'\s*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Rule:
    """A firewall rule as hybridctl compares it."""

    name: str
    direction: str
    protocol: str
    port: str


def wanted_rules(script: RenderedFile) -> dict[str, Rule]:
    """The rules the rendered firewall.ps1 sets, by name."""
    text = script.content.decode("utf-8")
    return {m.group(1): Rule(*m.groups()) for m in _RULE.finditer(text)}


def live_rules(state: dict[str, Any]) -> dict[str, Rule]:
    """The enabled allow rules named hybridctl-* on the host (others count as different)."""
    found = {}
    for item in state.get("firewallRules") or []:
        inbound = item.get("direction") == "Inbound"
        allowed = item.get("enabled") == "True" and item.get("action") == "Allow"
        port = str(item.get("localPort" if inbound else "remotePort"))
        found[str(item["name"])] = Rule(
            item["name"], item["direction"], item["protocol"], port if allowed else ""
        )
    return found


def rule_changes(wanted: dict[str, Rule], live: dict[str, Rule]) -> list[Change]:
    """Missing, different and stale rules."""
    changes = [
        Change(f"add firewall rule {n} ({r.protocol} {r.port} {r.direction.lower()})")
        for n, r in wanted.items()
        if n not in live
    ]
    changes += [Change(f"correct firewall rule {n}") for n, r in wanted.items() if n in live and live[n] != r]
    changes += [Change(f"remove stale firewall rule {n}", impact="delete") for n in live if n not in wanted]
    return changes


class WindowsFirewall(WindowsStep):
    """Open exactly the ports the network mode needs (reference section 2.3); the firewall stays on."""

    name: ClassVar[str] = "windows-firewall"
    title: ClassVar[str] = "firewall rules (Windows)"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The script file, and the live hybridctl-* rules against the ones it sets."""
        script = host_files(ctx, host.host, ["firewall"])
        state = PLATFORM.state(
            host, Paths=[s.target for s in script if s.target], FirewallPrefix=FIREWALL_PREFIX
        )
        changes = file_changes(KnownHashes(state.get("files") or {}), host, script)
        return changes + rule_changes(wanted_rules(script[0]), live_rules(state))

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Install firewall.ps1 and run it (it creates, corrects and removes rules itself)."""
        script = host_files(ctx, host.host, ["firewall"])
        install(PLATFORM, host, script)
        assert script[0].target is not None
        apply_json(host, "run-file", {"Path": script[0].target})
