"""Read YAML into plain data while remembering the line and column of every key and item."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLWarning

from hybridctl.inventory.problems import Path, Problem, error

# Aliases let a few lines expand into an enormous structure ("billion laughs"); an inventory is small.
MAX_VALUES = 100_000
MAX_DEPTH = 64
_DUPLICATE_KEY = re.compile(r'found duplicate key "(.*?)" with value')


@dataclass
class Positions:
    """1-based (line, column) of every mapping key and sequence item, by data path."""

    table: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def find(self, path: Path) -> tuple[int | None, int | None]:
        """Position of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            pos = self.table.get(tuple(path[:end]))
            if pos is not None:
                return pos
        return None, None

    def locate(self, problem: Problem, file: str) -> Problem:
        """``problem`` with its file, line and column filled in."""
        line, column = self.find(problem.path)
        return problem.located(file, line, column)


@dataclass
class Document:
    """A parsed YAML document: plain data plus positions."""

    data: Any
    positions: Positions


class YamlSyntaxError(Exception):
    """The file is not well-formed YAML."""

    def __init__(self, message: str, line: int | None, column: int | None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint

    def problem(self, file: str) -> Problem:
        """This error as an inventory problem."""
        return error((), f"not valid YAML: {self.message}", self.hint).located(file, self.line, self.column)


@dataclass
class _Flattener:
    """Turns ruamel's round-trip nodes into dicts, lists and scalars, recording positions."""

    positions: Positions
    count: int = 0

    def plain(self, node: Any, path: Path) -> Any:
        """``node`` as plain data; refuses documents that expand beyond MAX_VALUES or MAX_DEPTH."""
        self.count += 1
        if self.count > MAX_VALUES or len(path) > MAX_DEPTH:
            raise YamlSyntaxError(
                f"the document is too large or too deeply nested (more than {MAX_VALUES} values or "
                f"{MAX_DEPTH} levels)",
                *self.positions.find(path),
                hint="aliases (*name) that expand into huge structures are refused",
            )
        if isinstance(node, CommentedMap):
            return self._mapping(node, path)
        if isinstance(node, CommentedSeq):
            return self._sequence(node, path)
        return _scalar(node)

    def _mapping(self, node: CommentedMap, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        own: dict[Any, list[int]] = node.lc.data
        for key, value in node.items():
            where = own.get(key)  # keys merged in with '<<: *anchor' have no position of their own
            if where is not None:
                self.positions.table[(*path, key)] = (where[0] + 1, where[1] + 1)
            out[_scalar(key)] = self.plain(value, (*path, key))
        return out

    def _sequence(self, node: CommentedSeq, path: Path) -> list[Any]:
        items: list[Any] = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            self.positions.table[(*path, index)] = (line + 1, col + 1)
            items.append(self.plain(value, (*path, index)))
        return items


def _scalar(node: Any) -> Any:
    """ruamel's scalar subclasses (kept for round-tripping) as the builtin types they extend."""
    for kind in (bool, str, int, float):
        if isinstance(node, kind):
            return kind(node)
    return node


def parse_yaml(text: str) -> Document:
    """Parse one YAML document; raises ``YamlSyntaxError`` with a position."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        with warnings.catch_warnings():
            # A redefined anchor is valid YAML (aliases take the latest); ruamel's warning would reach stderr.
            warnings.simplefilter("ignore", YAMLWarning)
            node = yaml.load(text)
    except DuplicateKeyError as exc:
        raise _duplicate_key(exc, text) from exc
    except MarkedYAMLError as exc:
        raise _marked(exc) from exc
    except Exception as exc:  # ruamel raises a few unmarked errors (recursion, reader errors)
        raise YamlSyntaxError(
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__, None, None
        ) from exc
    positions = Positions()
    if isinstance(node, CommentedMap | CommentedSeq):
        positions.table[()] = (node.lc.line + 1, node.lc.col + 1)
    return Document(_Flattener(positions).plain(node, ()), positions)


def _marked(exc: MarkedYAMLError) -> YamlSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    message = str(exc.problem or exc.context or "invalid YAML")
    hint = "indent with spaces; YAML does not allow tabs" if "\\t" in message else None
    return YamlSyntaxError(message, *_position(mark), hint=hint)


def _duplicate_key(exc: DuplicateKeyError, text: str) -> YamlSyntaxError:
    # ruamel's own message quotes both values, which may be passwords: name only the key.
    match = _DUPLICATE_KEY.search(str(exc.problem))
    key = match.group(1) if match else ""
    line, column = _position(exc.problem_mark)
    first = _first_occurrence(text, key, _position(exc.context_mark)[0], line, column)
    hint = f"the first one is on line {first}; keep only one" if first else "keep only one of them"
    return YamlSyntaxError(f"duplicate key '{key}' in a mapping", line, column, hint=hint)


def _first_occurrence(
    text: str, key: str, start: int | None, end: int | None, column: int | None
) -> int | None:
    """Line of the earlier ``key:`` at the same indentation (block style only), if it can be found."""
    if not key or start is None or end is None or column is None:
        return None
    pattern = re.compile(r"[\"']?" + re.escape(key) + r"[\"']?\s*:")
    lines = text.splitlines()
    for number in range(start, end):
        if pattern.match(lines[number - 1], column - 1):
            return number
    return None


def _position(mark: Any) -> tuple[int | None, int | None]:
    if mark is None:
        return None, None
    return mark.line + 1, mark.column + 1


def read_text(path: FsPath) -> str:
    """The file's text as UTF-8 (a byte order mark is dropped)."""
    return path.read_text(encoding="utf-8-sig")
