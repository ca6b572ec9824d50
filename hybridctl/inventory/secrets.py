"""Resolve ``${env:NAME}`` references in inventory strings, and collect the values that must stay secret."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, SecretStr

from hybridctl.inventory.problems import Path, Problem, error
from hybridctl.masking import Masker

_REF = re.compile(r"(?P<escape>\$\$\{)|\$\{env:(?P<name>[^}]*)\}|(?P<bad>\$\{)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
REFERENCE_HINT = "write ${env:NAME} to read an environment variable, or $${ for a literal '${'"


@dataclass
class Resolved:
    """Inventory data with every reference replaced, what went wrong, and the values read."""

    data: Any = None
    problems: list[Problem] = field(default_factory=list)
    values: list[str] = field(default_factory=list)

    @property
    def failed_paths(self) -> list[Path]:
        """Where a reference could not be resolved (the value there is a stand-in)."""
        return [p.path for p in self.problems]


def resolve_env(data: Any, env: Mapping[str, str]) -> Resolved:
    """``data`` with every ``${env:NAME}`` replaced; ``$${`` stands for a literal ``${``."""
    resolved = Resolved()
    resolved.data = _walk(data, env, (), resolved)
    return resolved


def _walk(data: Any, env: Mapping[str, str], path: Path, into: Resolved) -> Any:
    if isinstance(data, dict):
        return {key: _walk(value, env, (*path, key), into) for key, value in data.items()}
    if isinstance(data, list):
        return [_walk(value, env, (*path, index), into) for index, value in enumerate(data)]
    if isinstance(data, str):
        return _REF.sub(lambda match: _replace(match, env, path, into), data)
    return data


def _replace(match: re.Match[str], env: Mapping[str, str], path: Path, into: Resolved) -> str:
    if match.group("escape"):
        return "${"
    problem = _unresolvable(match.group("name"), env, path)
    if problem is not None:
        into.problems.append(problem)
        return ""
    into.values.append(env[match.group("name")])
    return env[match.group("name")]


def _unresolvable(name: str | None, env: Mapping[str, str], path: Path) -> Problem | None:
    """Why ``${env:name}`` cannot be resolved, or None when it can."""
    # Never quote what follows a broken '${': in a password it is part of the secret.
    if name is None:
        return error(path, "'${' does not start an ${env:NAME} reference", REFERENCE_HINT)
    if not _NAME.fullmatch(name):
        return error(path, "${env:...} needs a variable name of letters, digits and '_'", REFERENCE_HINT)
    if name not in env:
        return error(path, f"environment variable {name} is not set", f"export {name}=... before running")
    if not env[name]:
        hint = "set it to the value; CI systems pass a secret that is not configured as empty text"
        return error(path, f"environment variable {name} is empty", hint)
    return None


def secret_keys(root: type[BaseModel]) -> frozenset[str]:
    """The YAML keys whose values are secrets (``SecretStr`` fields) anywhere in the model ``root``."""
    return frozenset(_secret_keys(root, set()))


def _secret_keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[str]:
    seen.add(model)
    for name, info in model.model_fields.items():
        if SecretStr in _types_in(info.annotation):
            yield info.alias or name
        for inner in _types_in(info.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
                yield from _secret_keys(inner, seen)


def _types_in(annotation: Any) -> list[Any]:
    """``annotation`` and every type argument nested in it (``list[Host] | None`` -> Host, ...)."""
    found = [annotation]
    for arg in typing.get_args(annotation):
        found += _types_in(arg)
    return found


def secret_values(data: Any, keys: frozenset[str]) -> Iterator[str]:
    """Every string stored under one of ``keys`` anywhere in ``data``."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from secret_values(value, keys)
    elif isinstance(data, list):
        for item in data:
            yield from secret_values(item, keys)


def masker_for(values: list[str]) -> Masker:
    """A masker for ``values`` as written and as ``repr`` shows them (messages quote values with repr)."""
    escaped = [repr(value)[1:-1] for value in values]
    return Masker([*values, *escaped])
