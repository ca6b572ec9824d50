"""Platforms: how to do X on each OS, as commands a transport runs (``linux``, ``windows``).

``platform_for`` is the one place that picks a platform from a host and its probed facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridctl.inventory.models import Host
from hybridctl.platforms.base import Platform
from hybridctl.platforms.linux import LinuxPlatform, PlatformError
from hybridctl.platforms.windows import WindowsPlatform


def platform_for(host: Host, facts: Mapping[str, Any] | None = None) -> Platform:
    """The platform of ``host``: Windows by inventory, Linux by the distribution its preflight probed."""
    if host.is_windows:
        return WindowsPlatform()
    distribution = (facts or {}).get("distribution")
    if not isinstance(distribution, str):
        raise PlatformError(f"{host.name}: no probed distribution; run the preflight first")
    return LinuxPlatform.for_distribution(distribution)


__all__ = ["LinuxPlatform", "Platform", "PlatformError", "WindowsPlatform", "platform_for"]
