"""Turn pydantic validation errors into inventory problems, and repair the data around them.

Repairing lets the semantic checks run even when the schema fails, so that one run reports every problem:
unknown keys and invalid optional values are dropped (defaults apply), a list item or mapping entry that
cannot be fixed is dropped, and a required text, list or mapping gets an empty stand-in. Paths into the
repaired data are mapped back to the file's own, so positions stay right.
"""

from __future__ import annotations

import copy
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticUndefined

from hybridctl.inventory.problems import Path, Problem, error

M = TypeVar("M", bound=BaseModel)
_KEY_MARK = "[key]"
_NUMBER_HINT = "YAML reads an unquoted number (or true/false/null) as that type: put the value in quotes"
_SYNONYMS = {"master": "control-plane"}  # the name kubeadm used until 1.20
_MESSAGES = {
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
    "list_type": "must be a list",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "invalid_key": "mapping keys must be text",
}


def problems_from(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    """One problem per pydantic error, except "missing" where a misspelt key already says what is meant."""
    details = exc.errors(include_url=False)
    meant = {
        (*path[:-1], close)
        for path in (error_path(d) for d in details if d["type"] == "extra_forbidden")
        if (close := closest(str(path[-1]), known_keys(root, path[:-1])))
    }
    return [_problem(d, root) for d in details if not (d["type"] == "missing" and error_path(d) in meant)]


def error_path(detail: ErrorDetails) -> Path:
    """The data path of a pydantic error (without pydantic's ``[key]`` marker)."""
    return tuple(p for p in detail["loc"] if isinstance(p, str | int) and p != _KEY_MARK)


def _problem(detail: ErrorDetails, root: type[BaseModel]) -> Problem:
    path = error_path(detail)
    kind = detail["type"]
    if kind == "extra_forbidden":
        return _unknown_key(path, root)
    if kind == "missing":
        return _missing(path, root)
    if kind == "literal_error":
        return _not_one_of(path, detail)
    if kind in ("string_type", "invalid_key"):
        # Only the input's type is looked at: it may be a secret.
        hint = _NUMBER_HINT if isinstance(detail.get("input"), int | float | bool | None) else None
        return error(path, _MESSAGES.get(kind, "must be text (a string)"), hint)
    return error(path, _MESSAGES.get(kind) or _message(detail))


def _message(detail: ErrorDetails) -> str:
    msg = detail["msg"].removeprefix("Input ")
    return msg[0].lower() + msg[1:] if msg else "invalid value"


def _missing(path: Path, root: type[BaseModel]) -> Problem:
    model = _model_at(root, path[:-1])
    annotation = _unwrap(_field_type(model, str(path[-1]))) if model else None
    choices = typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()
    hint = f"add {path[-1]}: " + " or ".join(str(c) for c in choices) if choices else None
    return error(path, f"required field '{path[-1]}' is missing", hint)


def _not_one_of(path: Path, detail: ErrorDetails) -> Problem:
    expected = str(detail.get("ctx", {}).get("expected", ""))
    choices = [c.strip().strip("'") for c in expected.replace(" or ", ", ").split(",") if c.strip()]
    given = detail.get("input")
    if len(choices) == 1:
        return error(
            path, f"must be {expected}", "is this file a hybridctl inventory (inventories/example.yaml)?"
        )
    close = closest(given, choices) if isinstance(given, str) else None
    return error(path, f"must be {expected}", f"did you mean '{close}'?" if close else None)


def _unknown_key(path: Path, root: type[BaseModel]) -> Problem:
    key = str(path[-1])
    known = known_keys(root, path[:-1])
    close = closest(key, known)
    hint = f"did you mean '{close}'?" if close else (f"known keys: {', '.join(known)}" if known else None)
    return error(path, f"unknown key '{key}'", hint=hint)


def closest(word: str, choices: list[str]) -> str | None:
    """The choice ``word`` was probably meant: same letters ignoring case and '_'/'-', else a similar one."""
    if _SYNONYMS.get(word.lower()) in choices:
        return _SYNONYMS[word.lower()]
    squashed = {_squash(c): c for c in choices}
    if _squash(word) in squashed:
        return squashed[_squash(word)]
    close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    return next((c for c in choices if close and c.lower() == close[0]), None)


def _squash(word: str) -> str:
    return word.replace("_", "").replace("-", "").lower()


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


# --- repair -----------------------------------------------------------------------------------------

_DROP = object()
"""Repair action: remove the key or list item."""

MAX_REPAIR_ROUNDS = 8


@dataclass
class Repair:
    """A copy of the data being repaired, and what was changed, in the file's own paths."""

    data: Any
    changed: list[Path] = field(default_factory=list)
    kept: dict[Path, list[int]] = field(default_factory=dict)
    """For each list that lost items: the file's indexes of the items still there, in order."""

    def original(self, path: Path) -> Path:
        """``path`` into the repaired data as a path into the file."""
        out: Path = ()
        for part in path:
            kept = self.kept.get(out)
            out = (*out, kept[part] if isinstance(part, int) and kept and part < len(kept) else part)
        return out

    def apply(self, errors: list[ErrorDetails], root: type[BaseModel]) -> bool:
        """Repair the data at every error; False when some error cannot be repaired."""
        targets: dict[Path, Any] = {}
        for detail in errors:
            target = _target(error_path(detail), root, self.data)
            if target is None:
                return False
            targets.setdefault(target[0], target[1])
        for path in sorted(_outermost(targets), key=_sort_key, reverse=True):
            self._change(path, targets[path], extra=_is_extra(path, root))
        return True

    def _change(self, path: Path, action: Any, *, extra: bool) -> None:
        container = _get(self.data, path[:-1])
        last = path[-1]
        if not extra:
            self.changed.append(self.original(path))
        if action is not _DROP:
            if isinstance(container, dict):
                container[last] = copy.deepcopy(action)
        elif isinstance(container, list) and isinstance(last, int) and last < len(container):
            kept = self.kept.setdefault(self.original(path[:-1]), list(range(len(container))))
            del container[last], kept[last]
        elif isinstance(container, dict):
            container.pop(last, None)


def validate_repaired(data: Any, root: type[M], errors: list[ErrorDetails]) -> tuple[M | None, Repair]:
    """Repair ``data`` until ``root`` accepts it; the model, or None when it cannot be repaired."""
    repair = Repair(copy.deepcopy(data))
    for _ in range(MAX_REPAIR_ROUNDS):
        if not repair.apply(errors, root):
            break
        try:
            return root.model_validate(repair.data, by_alias=True, by_name=False), repair
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
    return None, repair


@dataclass(frozen=True)
class _Closest:
    """Repair action for a required choice: the option the value was clearly meant as (``Worker``)."""

    options: tuple[str, ...]

    def resolve(self, value: Any) -> str | None:
        """The meant option, or None when there is no clear one."""
        return closest(value, list(self.options)) if isinstance(value, str) else None


def _target(path: Path, root: type[BaseModel], data: Any = None) -> tuple[Path, Any] | None:
    """Where to repair for an error at ``path`` and how: the innermost place that can take a repair."""
    steps = _steps(path, root)
    for end in range(len(steps), 0, -1):
        action = steps[end - 1]
        if isinstance(action, _Closest):
            action = action.resolve(_get(data, path[:end]))
        if action is not None:
            return path[:end], action
    return None


def _steps(path: Path, root: type[BaseModel]) -> list[Any]:
    """For each prefix of ``path``: the repair action possible there, or None."""
    actions: list[Any] = []
    current: Any = root
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(_field_name(current, part) or "")
            actions.append(
                _field_action(info.annotation, info.default, info.default_factory) if info else _DROP
            )
            current = info.annotation if info else None
        elif typing.get_origin(current) in (list, dict):
            actions.append(_DROP)
            current = typing.get_args(current)[-1]
        else:
            actions.append(None)
            current = None
    return actions


def _field_name(model: type[BaseModel], key: str | int) -> str | None:
    return next((name for name, info in model.model_fields.items() if info.alias == key), None)


def _field_action(annotation: Any, default: Any, factory: Any) -> Any:
    """Drop an optional field (its default applies); give a required one a stand-in when possible."""
    if default is not PydanticUndefined or factory is not None:
        return _DROP
    inner = _unwrap(annotation)
    origin = typing.get_origin(inner)
    if inner is str:
        return ""
    if origin is list:
        return []
    if origin is dict or (isinstance(inner, type) and issubclass(inner, BaseModel)):
        return {}
    if origin is Literal:
        return _literal_action(typing.get_args(inner))
    return None


def _literal_action(options: tuple[Any, ...]) -> Any:
    """The only option, or the one a misspelt value clearly meant (so the rest of the item is checked)."""
    if len(options) == 1:
        return options[0]
    return _Closest(options) if all(isinstance(o, str) for o in options) else None


def _is_extra(path: Path, root: type[BaseModel]) -> bool:
    model = _model_at(root, path[:-1])
    return model is not None and _field_name(model, path[-1]) is None


def _outermost(targets: dict[Path, Any]) -> list[Path]:
    """Target paths that do not lie inside another target (repairing the outer one covers them)."""
    return [p for p in targets if not any(p[: len(q)] == q and p != q for q in targets)]


def _sort_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in path)


def _get(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data
