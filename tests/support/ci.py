"""Skip outside CI when a tool is missing; fail in CI, where .ci/run must have installed it."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    """True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str, install_hint: str) -> str:
    """The path of executable ``name``; skip (locally) or fail (in CI) when it is missing."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path:
        return path
    message = f"{name} is not installed: {install_hint}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_root(reason: str) -> None:
    """Skip (locally) or fail (in CI) unless running as root."""
    if os.geteuid() == 0:
        return
    message = f"needs root: {reason}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
