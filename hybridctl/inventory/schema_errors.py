"""Turn pydantic validation errors into inventory problems with "did you mean" hints."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from hybridctl.inventory.problems import Path, Problem, error


def problems_from(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """One problem per pydantic error, in document order."""
    return [_problem(detail, root) for detail in exc.errors(include_input=False, include_url=False)]


def _problem(detail: ErrorDetails, root: type[BaseModel]) -> Problem:
    path: Path = tuple(p for p in detail["loc"] if isinstance(p, str | int))
    kind = detail["type"]
    if kind == "extra_forbidden":
        return _unknown_key(path, root)
    if kind == "missing":
        return error(path, f"required field '{path[-1]}' is missing")
    if kind == "literal_error":
        expected = detail.get("ctx", {}).get("expected", "")
        return error(path, f"must be one of {expected}")
    return error(path, _message(detail))


def _message(detail: ErrorDetails) -> str:
    msg = detail["msg"]
    return msg[0].lower() + msg[1:] if msg else "invalid value"


def _unknown_key(path: Path, root: type[BaseModel]) -> Problem:
    key = str(path[-1])
    known = known_keys(root, path[:-1])
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close:
        close = [k for k in known if k.lower() == key.lower()]
    hint = f"did you mean '{close[0]}'?" if close else (f"known keys: {', '.join(known)}" if known else None)
    return error(path, f"unknown key '{key}'", hint=hint)


def known_keys(root: type[BaseModel], path: Path) -> list[str]:
    """The YAML keys a mapping at ``path`` may have."""
    model = _model_at(root, path)
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_at(root: type[BaseModel], path: Path) -> type[BaseModel] | None:
    current: Any = root
    for part in path:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            current = _field_type(current, part)
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_type(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip ``X | None`` down to ``X``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation
