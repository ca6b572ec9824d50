"""Skip outside CI when a tool is missing; fail in CI, where .ci/run must have installed it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(message: str) -> NoReturn:
    """A prerequisite is missing: fail in CI (``.ci/run`` must install it), skip elsewhere."""
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str, install_hint: str, also_in: Sequence[str] = ("/usr/sbin",)) -> str:
    """The path of executable ``name`` (in PATH or one of ``also_in``); skip (locally) or fail (in CI)
    when it is missing."""
    found = shutil.which(name) or next(
        (f"{d}/{name}" for d in also_in if os.path.exists(f"{d}/{name}")), None
    )
    if found:
        return found
    missing(f"{name} is not installed: {install_hint}")


def require_root(reason: str) -> None:
    """Skip (locally) or fail (in CI) unless running as root."""
    if os.geteuid() == 0:
        return
    message = f"needs root: {reason}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
