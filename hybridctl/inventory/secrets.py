"""Resolve ``${env:NAME}`` references in inventory strings when the file is loaded."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hybridctl.inventory.problems import Path, Problem, error

_REF = re.compile(r"\$\$\{|\$\{env:([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def resolve_env(data: Any, env: Mapping[str, str], path: Path = ()) -> tuple[Any, list[Problem]]:
    """Return ``data`` with every ``${env:NAME}`` replaced; ``$${`` stands for a literal ``${``."""
    problems: list[Problem] = []
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            out[key], found = resolve_env(value, env, (*path, key))
            problems += found
        return out, problems
    if isinstance(data, list):
        items = []
        for index, value in enumerate(data):
            item, found = resolve_env(value, env, (*path, index))
            items.append(item)
            problems += found
        return items, problems
    if isinstance(data, str):
        return _substitute(data, env, path, problems), problems
    return data, problems


def _substitute(text: str, env: Mapping[str, str], path: Path, problems: list[Problem]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "${"
        if not _NAME.match(name):
            problems.append(error(path, f"'${{env:{name}}}' is not a valid environment variable reference"))
            return ""
        if name not in env:
            problems.append(
                error(
                    path, f"environment variable {name} is not set", hint=f"export {name}=... before running"
                )
            )
            return ""
        return env[name]

    return _REF.sub(replace, text)
