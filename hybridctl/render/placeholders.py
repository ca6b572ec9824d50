"""Markers for runtime values that are not known yet, e.g. ``@@HYBRIDCTL-PLACEHOLDER:pod-cidr/win1@@``.

A placeholder is an ordinary string to every format hybridctl renders (YAML, JSON, TOML, shell and
PowerShell literals), so a file that carries one still parses; ``RenderedFile.installable()`` refuses it.
"""

from __future__ import annotations

import re

PREFIX = "@@HYBRIDCTL-PLACEHOLDER:"
SUFFIX = "@@"
_FOUND = re.compile(re.escape(PREFIX).encode() + rb"(.*?)" + re.escape(SUFFIX).encode())


def placeholder(name: str) -> str:
    """The marker standing for the runtime value ``name`` (``pod-cidr/win1``, ``bootstrap-token``...)."""
    return f"{PREFIX}{name}{SUFFIX}"


def is_placeholder(value: str) -> bool:
    """True when ``value`` contains a placeholder marker."""
    return PREFIX in value


def find_placeholders(content: bytes) -> tuple[str, ...]:
    """Names of the placeholders in ``content``, sorted and without duplicates."""
    return tuple(sorted({m.group(1).decode("utf-8", "replace") for m in _FOUND.finditer(content)}))


def has_marker(content: bytes) -> bool:
    """True when ``content`` carries any placeholder prefix, even a mangled one."""
    return PREFIX.encode() in content
